"""Schedules at work: keep each flow's schedule record in step with its published flow, switch it
on and off for operators, and fire a due slot from the reconciler.

The decisions are the schedule machine's (``core/schedule/machine.py``); every write goes through
``core/transitions.py`` on condition that the record is still the one read. Firing a slot is
idempotent by the slot's run id (``<flow>:<slot UTC>``): two reconcilers that see one slot due
start the same run and only one of them moves ``next_at`` on; a crash between the start and that
move leaves the slot due, and the next pass finds the run already started and moves on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from lambda_resolver.core.context import Context, log
from lambda_resolver.core.errors import BadRequest, ConcurrencyLimit, RunConflict, StoreConflict
from lambda_resolver.core.ids import scheduled_run_id
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import RunTrigger, TriggerType
from lambda_resolver.core.schedule import machine
from lambda_resolver.core.schedule.machine import ScheduleRecord

if TYPE_CHECKING:
    from lambda_resolver.core.engine import Engine

Decide = Callable[[ScheduleRecord | None], ScheduleRecord | None]
Move = Callable[[ScheduleRecord, int], ScheduleRecord | None]
_TRIES = 10


class Scheduler:
    """A flow's schedule record: publish, pause, resume, read, fire."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _change(self, flow: str, decide: Decide) -> ScheduleRecord | None:
        """Read, decide, write on the version read; a lost race decides again from the winner."""
        store = self.ctx.store
        read = store.get_schedule(flow)
        for _ in range(_TRIES):
            new = decide(read)
            if new is None:
                return read
            try:
                return self.ctx.writes.write_schedule(new, read)
            except StoreConflict as lost:
                read = lost.current if isinstance(lost.current, ScheduleRecord) else store.get_schedule(flow)
        raise StoreConflict(f"the schedule of flow '{flow}' keeps changing; try again")

    # -- publishing and the switch --------------------------------------------------------------
    def on_publish(self, manifest: FlowManifest, *, production: bool) -> ScheduleRecord | None:
        """Bring the flow's record in step with a newly published version (see the machine)."""
        now = self.ctx.now()
        return self._change(
            manifest.name,
            lambda read: machine.on_publish(
                read, manifest.name, manifest.schedule, production=production, now=now
            ),
        )

    def get(self, flow: str) -> ScheduleRecord | None:
        """The record of a published flow (UnknownFlow if there is no such flow)."""
        self.ctx.manifest(flow)
        return self.ctx.store.get_schedule(flow)

    def list(self) -> list[ScheduleRecord]:
        """Every flow's schedule record, by flow."""
        return sorted(self.ctx.store.list_schedules(), key=lambda r: r.flow)

    def pause(self, flow: str) -> ScheduleRecord:
        """Stop firing ``flow``'s schedule until resumed (a no-op if already paused)."""
        return self._switch(flow, machine.paused)

    def resume(self, flow: str) -> ScheduleRecord:
        """Fire ``flow``'s schedule again from its next slot after now."""
        return self._switch(flow, machine.resumed)

    def _switch(self, flow: str, move: Move) -> ScheduleRecord:
        latest = self.ctx.manifest(flow)  # UnknownFlow (naming the known flows) if there is none
        now = self.ctx.now()

        def decide(read: ScheduleRecord | None) -> ScheduleRecord | None:
            current = read
            if read is None or read.spec != latest.schedule:  # a publish cut short: catch up first
                current = machine.on_publish(read, flow, latest.schedule, production=False, now=now) or read
            if current is None or current.spec is None:
                raise BadRequest(
                    f"flow '{flow}' has no schedule: give its job a `schedule` (quartz_cron_expression, "
                    "timezone_id, pause_status: PAUSED) or `trigger.periodic`, and publish it"
                )
            moved = move(current, now)
            if moved is not None:
                return moved
            return current if current is not read else None  # caught up, already switched

        stored = self._change(flow, decide)
        assert stored is not None
        self.ctx.event("schedule_switched", {"flow": flow, "active": stored.active})
        return stored

    # -- firing ----------------------------------------------------------------------------------
    def fire(self, engine: Engine, flow: str) -> str:
        """The reconciler found ``flow``'s schedule due: run its latest due slot (once), then move
        ``next_at`` on. Says what happened: fired, queued, skipped (max_concurrent_runs), recovered
        (a crash had started the slot's run but not moved on), stale."""
        ctx, now = self.ctx, self.ctx.now()
        read = ctx.store.get_schedule(flow)
        if read is None or read.due_at is None or read.due_at > now:
            return "stale"
        latest = ctx.store.get_flow(flow)
        spec = None if latest is None else latest.schedule
        if spec != read.spec:  # a publish stored the flow but not its schedule: catch up, fire later
            self._advance(machine.resynced(read, spec, now), read)
            return "resynced"
        assert read.next_at is not None
        next_ran = ctx.store.get_run(scheduled_run_id(flow, _utc(read.next_at))) is not None
        due = machine.due(read, now, next_ran=next_ran)
        outcome = "recovered" if next_ran else "stale"
        if due is not None:
            outcome = self._start(engine, read, due)
        self._advance(machine.fired(read, due, now), read)
        return outcome

    def _start(self, engine: Engine, read: ScheduleRecord, due: machine.Fire) -> str:
        assert read.spec is not None
        run_id = scheduled_run_id(read.flow, _utc(due.slot))
        trigger = RunTrigger(TriggerType(read.spec.kind), due.slot, due.skipped)
        fields = {"flow": read.flow, "run_id": run_id, "skipped": due.skipped}
        try:
            run, _ = engine.start_run(read.flow, run_id=run_id, trigger=trigger)
        except ConcurrencyLimit:
            # As Databricks does without `queue`: the slot is skipped; its run is recorded CANCELED.
            self.ctx.event("schedule_skipped", {**fields, "reason": "max_concurrent_runs"})
            return "skipped"
        except RunConflict as exc:  # a run under this id was started by hand with other parameters
            log.warning("schedule of %s: slot run %s: %s", read.flow, run_id, exc.message)
            return "skipped"
        self.ctx.event("schedule_fired", {**fields, "state": run.state.value})
        return "queued" if run.state.value == "PENDING" else "fired"

    def _advance(self, new: ScheduleRecord, read: ScheduleRecord) -> None:
        with contextlib.suppress(StoreConflict):  # another pass (or an operator) moved it first
            self.ctx.writes.write_schedule(new, read)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
