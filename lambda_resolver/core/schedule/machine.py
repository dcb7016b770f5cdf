"""The schedule machine: a flow's schedule record and every change to it, decided here.

The resolver keeps one record per flow that has (or had) a schedule: the spec it was computed
from, lakehook's own switch (``active``), the periodic ``anchor`` (when it was first activated),
``next_at`` (the next slot, epoch ms; None while paused or without a schedule) and the last slot
that fired. Each function here is pure: it takes the record as read and the time, and returns
the record to write, or None when nothing changes. The write's condition is always the same —
the record is still the version it was read at (``ver``), which implies ``next_at`` still holds
the value read — so two deciders racing on one record cannot both win (core/transitions.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from lambda_resolver.core.schedule.spec import FlowSchedule

UTC = timezone.utc


@dataclasses.dataclass(frozen=True)
class ScheduleRecord:
    """A flow's schedule as the resolver keeps it. ``ver`` counts writes (0: never stored)."""

    flow: str
    spec: FlowSchedule | None
    active: bool
    anchor: int | None = None  # periodic: epoch ms of the first activation (whole seconds)
    next_at: int | None = None  # epoch ms of the next slot; None while paused or unscheduled
    last_slot: int | None = None  # epoch ms of the last slot that fired
    updated_at: int = 0
    ver: int = 0

    @property
    def due_at(self) -> int | None:
        """When the reconciler must fire it: ``next_at`` while active with a schedule."""
        return self.next_at if self.active and self.spec is not None else None

    def to_doc(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "spec": None if self.spec is None else self.spec.to_dict(),
            "active": self.active,
            "anchor": self.anchor,
            "next_at": self.next_at,
            "last_slot": self.last_slot,
            "updated_at": self.updated_at,
            "ver": self.ver,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ScheduleRecord:
        spec = doc.get("spec")
        return cls(
            flow=str(doc["flow"]),
            spec=None if spec is None else FlowSchedule.from_dict(spec),
            active=bool(doc.get("active", False)),
            anchor=doc.get("anchor"),
            next_at=doc.get("next_at"),
            last_slot=doc.get("last_slot"),
            updated_at=int(doc.get("updated_at", 0)),
            ver=int(doc.get("ver", 0)),
        )


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(t: datetime) -> int:
    return int(t.timestamp()) * 1000  # slots are whole seconds


def next_fire(spec: FlowSchedule, anchor: int | None, after: int) -> int | None:
    """The first slot of ``spec`` strictly after ``after`` (epoch ms); None: never again."""
    slots = spec.slots(None if anchor is None else _dt(anchor))
    slot = slots.next_after(_dt(after))
    return None if slot is None else _ms(slot)


def _armed(rec: ScheduleRecord, now: int) -> ScheduleRecord:
    """``rec`` with ``next_at`` computed from ``now`` (and an anchor on first activation)."""
    if rec.spec is None or not rec.active:
        return dataclasses.replace(rec, next_at=None, updated_at=now)
    anchor = rec.anchor
    if rec.spec.kind == "periodic" and anchor is None:
        anchor = now - now % 1000
    return dataclasses.replace(rec, anchor=anchor, next_at=next_fire(rec.spec, anchor, now), updated_at=now)


def on_publish(
    current: ScheduleRecord | None, flow: str, spec: FlowSchedule | None, *, production: bool, now: int
) -> ScheduleRecord | None:
    """A flow version was published with ``spec``. The first schedule starts active on a
    production target, paused otherwise; later publishes keep the switch where it is; a changed
    spec recomputes ``next_at`` from now; a removed one stops firing."""
    if current is None:
        if spec is None:
            return None  # no schedule, never had one: nothing to keep
        return _armed(ScheduleRecord(flow, spec, active=production), now)
    if current.spec == spec:
        return None
    return _armed(dataclasses.replace(current, spec=spec), now)


def paused(current: ScheduleRecord, now: int) -> ScheduleRecord | None:
    """The operator paused it: nothing fires until resumed."""
    if not current.active:
        return None
    return dataclasses.replace(current, active=False, next_at=None, updated_at=now)


def resumed(current: ScheduleRecord, now: int) -> ScheduleRecord | None:
    """The operator resumed it: the next slot after now fires (slots missed while paused do not);
    a periodic schedule keeps the anchor of its first activation, so its slots do not shift."""
    if current.active and current.next_at is not None:
        return None
    return _armed(dataclasses.replace(current, active=True), now)


@dataclasses.dataclass(frozen=True)
class Fire:
    """What a due record asks for: the slot to run (epoch ms) and how many before it were skipped."""

    slot: int
    skipped: int


def due(current: ScheduleRecord, now: int, *, next_ran: bool = False) -> Fire | None:
    """The latest slot in ``[next_at, now]`` and the slots skipped before it (no backfill).
    ``next_ran``: the run of the slot at ``next_at`` exists already (a crash came between
    starting it and moving ``next_at`` on), so only slots after it count."""
    from lambda_resolver.core.schedule.slots import due_slot

    if current.spec is None or current.next_at is None or current.next_at > now:
        return None
    slots = current.spec.slots(None if current.anchor is None else _dt(current.anchor))
    after = current.next_at if next_ran else current.next_at - 1000
    found = due_slot(slots, _dt(after), _dt(now))
    return None if found is None else Fire(_ms(found.slot), found.skipped)


def fired(current: ScheduleRecord, fire: Fire | None, now: int) -> ScheduleRecord:
    """After the slot's run was started (or skipped): the next slot after it, or after now."""
    assert current.spec is not None
    last = current.last_slot if fire is None else fire.slot  # a fired slot is at or before now
    return dataclasses.replace(
        current, next_at=next_fire(current.spec, current.anchor, now), last_slot=last, updated_at=now
    )


def resynced(current: ScheduleRecord, spec: FlowSchedule | None, now: int) -> ScheduleRecord:
    """The record caught up with the flow's latest published schedule (a publish cut short)."""
    return _armed(dataclasses.replace(current, spec=spec), now)
