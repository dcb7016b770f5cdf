"""A flow's compiled schedule, as it travels in the manifest: a Quartz cron or a periodic trigger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from lambda_resolver.core.models import RunTrigger
    from lambda_resolver.core.schedule.slots import DueSlot, Slots

ScheduleKind = Literal["schedule", "periodic"]


@dataclass(frozen=True)
class FlowSchedule:
    """A flow job's ``schedule`` (kind "schedule") or ``trigger.periodic`` (kind "periodic").

    The kind is also the run's ``trigger.type``. Whether lakehook fires it is a switch kept in the
    resolver, not here: the YAML always says ``pause_status: PAUSED`` (Databricks must not fire it).
    """

    kind: ScheduleKind
    quartz_cron_expression: str = ""
    timezone_id: str = "UTC"
    interval: int = 0
    unit: str = ""  # MINUTES | HOURS | DAYS | WEEKS

    def slots(self, anchor: datetime | None = None) -> Slots:
        """The slot sequence; a periodic one needs its ``anchor`` (when it was first activated)."""
        from lambda_resolver.core.schedule.slots import CronSlots, PeriodicSlots  # not on import

        if self.kind == "schedule":
            return CronSlots.of(self.quartz_cron_expression, self.timezone_id)
        if anchor is None:
            raise ValueError("a periodic schedule's slots are anchored: pass the time it was first activated")
        return PeriodicSlots.of(anchor, self.interval, self.unit)

    def run_trigger(self, due: DueSlot) -> RunTrigger:
        """What a run started for ``due`` records: this kind, the slot (epoch ms), the skipped count."""
        from lambda_resolver.core.models import RunTrigger, TriggerType

        slot_ms = int(due.slot.timestamp()) * 1000  # slots are whole seconds
        return RunTrigger(TriggerType(self.kind), slot_ms, due.skipped)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "schedule":
            return {
                "kind": self.kind,
                "quartz_cron_expression": self.quartz_cron_expression,
                "timezone_id": self.timezone_id,
            }
        return {"kind": self.kind, "interval": self.interval, "unit": self.unit}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowSchedule:
        kind = d["kind"]
        if kind == "schedule":
            return cls("schedule", str(d["quartz_cron_expression"]), str(d.get("timezone_id") or "UTC"))
        if kind == "periodic":
            return cls("periodic", interval=int(d["interval"]), unit=str(d["unit"]))
        raise ValueError(f"unknown schedule kind {kind!r}")
