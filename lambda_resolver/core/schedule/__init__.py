"""Flow schedules: Quartz cron expressions, periodic triggers, slots in time zones, missed slots.

Pure and clock-free: every function takes the times it needs. The reconciler asks ``due_slot``
at each tick; a slot's run id (:func:`scheduled_run_id`) makes every signal that sees the same
slot due start the same run.
"""

from __future__ import annotations

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
