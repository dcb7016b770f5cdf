"""Flow schedules: Quartz cron expressions, periodic triggers, slots in time zones, missed slots.

Pure and clock-free: every function takes the times it needs. The reconciler asks ``due_slot``
at each tick; a slot's run id (:func:`scheduled_run_id`) makes every signal that sees the same
slot due start the same run. Names load on first use: the manifest imports ``FlowSchedule`` on
the engine's import path, which must not pay for the parser, zoneinfo or calendar.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambda_resolver.core.ids import scheduled_run_id
    from lambda_resolver.core.schedule.quartz import CronError, CronExpr, parse
    from lambda_resolver.core.schedule.slots import (
        PERIODIC_UNITS,
        CronSlots,
        DueSlot,
        PeriodicSlots,
        Slots,
        ZoneError,
        due_slot,
        next_periodic,
        next_slot,
        zone,
    )
    from lambda_resolver.core.schedule.spec import FlowSchedule

_WHERE = {
    "scheduled_run_id": "lambda_resolver.core.ids",
    "CronError": "lambda_resolver.core.schedule.quartz",
    "CronExpr": "lambda_resolver.core.schedule.quartz",
    "parse": "lambda_resolver.core.schedule.quartz",
    "FlowSchedule": "lambda_resolver.core.schedule.spec",
    **{
        name: "lambda_resolver.core.schedule.slots"
        for name in (
            "PERIODIC_UNITS",
            "CronSlots",
            "DueSlot",
            "PeriodicSlots",
            "Slots",
            "ZoneError",
            "due_slot",
            "next_periodic",
            "next_slot",
            "zone",
        )
    },
}

__all__ = [
    "PERIODIC_UNITS",
    "CronError",
    "CronExpr",
    "CronSlots",
    "DueSlot",
    "FlowSchedule",
    "PeriodicSlots",
    "Slots",
    "ZoneError",
    "due_slot",
    "next_periodic",
    "next_slot",
    "parse",
    "scheduled_run_id",
    "zone",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
