"""Schedule records on both stores: conditional writes, the due index, and one run per slot when
two reconcilers race for it (threads over one store, one workspace)."""

from __future__ import annotations

import contextlib
from datetime import datetime

import pytest

from lambda_resolver.core.errors import StoreConflict
from lambda_resolver.core.models import TriggerType
from lambda_resolver.core.schedule import FlowSchedule
from lambda_resolver.core.schedule.machine import ScheduleRecord
from lambda_resolver.core.store import Store

from support.crash import Crash, CrashingStore, Faults
from support.flows import flow, job_task
from support.harness import Harness
from support.races import RaceLauncher, at_once

CRON = FlowSchedule("schedule", "0 * * * * ?", "UTC")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_a_record_is_written_only_on_the_version_it_was_read_at(store: Store) -> None:
    first = store.put_schedule(ScheduleRecord("nightly", CRON, True, next_at=60_000), expect_ver=0)
    assert first.ver == 1 and store.get_schedule("nightly") == first
    with pytest.raises(StoreConflict) as again:  # a second "first" write loses
        store.put_schedule(ScheduleRecord("nightly", CRON, False), expect_ver=0)
    assert again.value.current == first
    second = store.put_schedule(ScheduleRecord("nightly", CRON, True, next_at=120_000), expect_ver=1)
    with pytest.raises(StoreConflict) as stale:  # decided from version 1, which is gone
        store.put_schedule(ScheduleRecord("nightly", CRON, True, next_at=999), expect_ver=1)
    assert stale.value.current == second and store.get_schedule("nightly") == second
    with pytest.raises(StoreConflict):  # a versioned write never creates a record
        store.put_schedule(ScheduleRecord("weekly", CRON, True), expect_ver=3)
    assert store.get_schedule("weekly") is None
    assert [r.flow for r in store.list_schedules()] == ["nightly"]


def test_only_active_schedules_are_in_the_due_index_at_their_next_fire_time(store: Store) -> None:
    store.put_schedule(ScheduleRecord("on", CRON, True, next_at=5_000), expect_ver=0)
    store.put_schedule(ScheduleRecord("off", CRON, False, next_at=None), expect_ver=0)
    store.put_schedule(ScheduleRecord("gone", None, True, next_at=None), expect_ver=0)
    assert [(d.kind, d.id, d.due_at) for d in store.due(10_000)] == [("schedule", "on", 5_000)]
    assert store.due(4_999) == []
    store.put_schedule(ScheduleRecord("on", CRON, False), expect_ver=1)  # paused: out of the index
    assert store.due(10_000) == []


def test_two_reconcilers_racing_for_each_slot_start_one_run_per_slot(store: Store) -> None:
    workspace = RaceLauncher()
    a, b = Harness(store, launcher=workspace), Harness(store, launcher=workspace)
    a.clock.t = ms("2026-12-07T12:00:10Z")
    a.engine.publish(flow("nightly", [job_task("a")], schedule=CRON, max_concurrent_runs=10), production=True)
    slots = ["12:01", "12:02", "12:03", "12:04"]
    for i, slot in enumerate(slots):
        a.clock.t = b.clock.t = ms(f"2026-12-07T{slot}:00.500Z")
        answers = at_once(a.engine.reconcile, b.engine.reconcile, jitter_s=0.02, seed=i)
        assert all(x.ok for x in answers), [x.error for x in answers]
        fired = sum(x.value.get("schedule_fired", 0) for x in answers if x.value)
        assert fired >= 1
    runs = [r for r in store.list_runs(flow="nightly") if r.trigger.type is TriggerType.SCHEDULE]
    assert sorted(r.run_id for r in runs) == [f"nightly:2026-12-07T{s}:00Z" for s in slots]
    assert workspace.duplicates == {} and len(workspace.runs) == len(slots)
    rec = store.get_schedule("nightly")
    assert rec is not None and rec.next_at == ms("2026-12-07T12:05:00Z")


def _fire(store: Store, name: str, faults: Faults, launcher: RaceLauncher, crash_at: int | None) -> None:
    """Publish ``name`` with a schedule, let a slot come due, reconcile: killed after write
    ``crash_at`` of the firing (None: not killed)."""
    h = Harness(CrashingStore(store, faults), launcher=launcher)  # type: ignore[arg-type]
    h.clock.t = ms("2026-12-07T12:00:10Z")
    h.engine.publish(flow(name, [job_task("a")], schedule=CRON), production=True)
    h.clock.t = ms("2026-12-07T12:01:01Z")
    faults.crash_after = None if crash_at is None else len(faults.ops) + crash_at
    with contextlib.suppress(Crash):
        h.engine.reconcile()


@pytest.mark.parametrize("point", ["create_run", "update_attempt"])
def test_a_crash_between_starting_a_slot_and_moving_on_still_gives_one_run(store: Store, point: str) -> None:
    """Killed right after the slot's run was created, or right before ``next_at`` moves on."""
    dry = Faults()
    _fire(store, "counted", dry, RaceLauncher(), None)  # the same firing on another flow, counted
    firing = dry.ops[2:]  # after put_flow and the publish's put_schedule
    faults, workspace = Faults(), RaceLauncher()
    _fire(
        store, "nightly", faults, workspace, max(i for i, op in enumerate(firing, 1) if op.startswith(point))
    )
    assert faults.crashed is not None and faults.crashed.op.startswith(point), faults.log()
    restarted = Harness(store, launcher=workspace)  # a new resolver over the same table
    restarted.clock.t = ms("2026-12-07T12:01:30Z")
    restarted.engine.reconcile()
    runs = [r.run_id for r in store.list_runs(flow="nightly") if r.trigger.type is TriggerType.SCHEDULE]
    assert runs == ["nightly:2026-12-07T12:01:00Z"]
    assert workspace.duplicates == {} and len(workspace.runs) == 1
    rec = store.get_schedule("nightly")
    assert rec is not None and rec.next_at == ms("2026-12-07T12:02:00Z")
