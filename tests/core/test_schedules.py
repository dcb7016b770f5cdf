"""Schedules at work on the engine (SQLite file, fake clock): the switch and its defaults, firing
exactly one run per slot, no backfill, max_concurrent_runs, a crash at every write of a firing,
and a restart of the resolver."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

import pytest

from lambda_resolver.core.errors import BadRequest, UnknownFlow
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import RunState, TriggerType
from lambda_resolver.core.schedule import FlowSchedule
from lambda_resolver.stores.sqlite import SqliteStore

from support.crash import Crash, CrashingStore, Faults
from support.flows import flow, job_task
from support.harness import Harness

EVERY_MINUTE = FlowSchedule("schedule", "0 * * * * ?", "UTC")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def nightly(schedule: FlowSchedule | None = EVERY_MINUTE, **kw: object) -> FlowManifest:
    task = job_task("a", params={"why": "{{job.trigger.type}}", "at": "{{job.trigger.time.iso_datetime}}"})
    return flow("nightly", [task], schedule=schedule, **kw)  # type: ignore[arg-type]


def scheduled_runs(h: Harness) -> list[str]:
    return sorted(
        r.run_id for r in h.store.list_runs(flow="nightly") if r.trigger.type is not TriggerType.MANUAL
    )


@pytest.fixture
def at_noon(h: Harness) -> Harness:
    h.clock.t = ms("2026-12-07T12:00:10Z")
    return h


def test_a_first_schedule_starts_active_on_production_and_paused_otherwise(at_noon: Harness) -> None:
    h = at_noon
    h.engine.publish(nightly(), production=False)
    rec = h.engine.schedules.get("nightly")
    assert rec is not None and not rec.active and rec.next_at is None
    assert not [d for d in h.store.due(ms("2027-01-01T00:00:00Z")) if d.kind == "schedule"]

    h.engine.publish(flow("weekly", [job_task("a")], schedule=EVERY_MINUTE), production=True)
    rec = h.engine.schedules.get("weekly")
    assert rec is not None and rec.active and rec.next_at == ms("2026-12-07T12:01:00Z")
    (due,) = [d for d in h.store.due(ms("2026-12-07T12:01:00Z")) if d.kind == "schedule"]
    assert (due.id, due.due_at) == ("weekly", ms("2026-12-07T12:01:00Z"))


def test_publishing_again_keeps_the_switch_and_recomputes_a_changed_schedule(at_noon: Harness) -> None:
    h = at_noon
    h.engine.publish(nightly(), production=True)
    h.engine.schedules.pause("nightly")
    h.engine.publish(nightly(max_concurrent_runs=2), production=True)  # same schedule, other settings
    rec = h.engine.schedules.get("nightly")
    assert rec is not None and not rec.active  # the operator paused it: a publish does not undo that

    h.engine.schedules.resume("nightly")
    h.engine.publish(nightly(FlowSchedule("schedule", "0 30 * * * ?", "UTC")), production=False)
    rec = h.engine.schedules.get("nightly")
    assert rec is not None and rec.active and rec.next_at == ms("2026-12-07T12:30:00Z")

    h.engine.publish(nightly(None))  # the schedule removed: it stops firing
    rec = h.engine.schedules.get("nightly")
    assert rec is not None and rec.spec is None and rec.due_at is None
    h.clock.t = ms("2026-12-07T13:00:00Z")
    h.engine.reconcile()
    assert scheduled_runs(h) == []


def test_a_due_slot_starts_one_run_named_for_it_and_moves_on(at_noon: Harness) -> None:
    h = at_noon
    h.engine.publish(nightly(), production=True)
    h.clock.t = ms("2026-12-07T12:01:00.400Z")
    assert h.engine.reconcile()["schedule_fired"] == 1
    assert h.engine.reconcile().get("schedule_fired") is None  # the same tick again: nothing new
    run = h.engine.get_run("nightly:2026-12-07T12:01:00Z")
    assert run.trigger.type is TriggerType.SCHEDULE and run.trigger.skipped == 0
    assert run.trigger.slot == ms("2026-12-07T12:01:00Z")
    (started,) = h.launcher.runs.values()
    assert started.request.parameters["why"] == "periodic"  # as Databricks writes a scheduled run
    assert started.request.parameters["at"] == "2026-12-07T12:01:00"
    rec = h.engine.schedules.get("nightly")
    assert rec is not None and rec.next_at == ms("2026-12-07T12:02:00Z")
    assert rec.last_slot == ms("2026-12-07T12:01:00Z")


def test_missed_slots_are_not_backfilled_the_latest_runs_once_counting_the_rest(at_noon: Harness) -> None:
    h = at_noon
    h.engine.publish(nightly(max_concurrent_runs=5), production=True)
    h.clock.t = ms("2026-12-07T12:10:30Z")  # slots 12:01 … 12:10 all passed while nothing ticked
    h.engine.reconcile()
    assert scheduled_runs(h) == ["nightly:2026-12-07T12:10:00Z"]
    assert h.engine.get_run("nightly:2026-12-07T12:10:00Z").trigger.skipped == 9


def test_pause_stops_firing_and_resume_fires_from_the_next_slot_only(at_noon: Harness) -> None:
    h = at_noon
    h.engine.publish(nightly(max_concurrent_runs=5), production=True)
    h.engine.schedules.pause("nightly")
    h.clock.t = ms("2026-12-07T12:05:30Z")
    h.engine.reconcile()
    assert scheduled_runs(h) == []
    rec = h.engine.schedules.resume("nightly")
    assert rec.next_at == ms("2026-12-07T12:06:00Z")  # the slots missed while paused never run
    h.clock.t = ms("2026-12-07T12:06:01Z")
    h.engine.reconcile()
    assert scheduled_runs(h) == ["nightly:2026-12-07T12:06:00Z"]
    assert h.engine.get_run("nightly:2026-12-07T12:06:00Z").trigger.skipped == 0


def test_a_periodic_schedule_keeps_the_anchor_of_its_first_activation(at_noon: Harness) -> None:
    h = at_noon
    every_hour = FlowSchedule("periodic", interval=1, unit="HOURS")
    h.engine.publish(nightly(every_hour), production=True)  # activated at 12:00:10
    h.engine.schedules.pause("nightly")
    h.clock.t = ms("2026-12-07T15:42:00Z")
    rec = h.engine.schedules.resume("nightly")
    assert rec.anchor == ms("2026-12-07T12:00:10Z") and rec.next_at == ms("2026-12-07T16:00:10Z")
    h.clock.t = ms("2026-12-07T16:00:11Z")
    h.engine.reconcile()
    run = h.engine.get_run("nightly:2026-12-07T16:00:10Z")
    assert run.trigger.type is TriggerType.PERIODIC


def test_the_switch_names_what_is_missing(at_noon: Harness) -> None:
    h = at_noon
    h.engine.publish(flow("adhoc", [job_task("a")]))
    with pytest.raises(BadRequest, match="has no schedule"):
        h.engine.schedules.resume("adhoc")
    with pytest.raises(UnknownFlow):
        h.engine.schedules.pause("nope")


def test_a_slot_at_max_concurrent_runs_is_skipped_and_recorded_without_queue(at_noon: Harness) -> None:
    h = at_noon
    h.engine.publish(nightly(), production=True)
    h.engine.start_run("nightly", run_id="by-hand")  # holds the one slot
    h.clock.t = ms("2026-12-07T12:01:05Z")
    counts = h.engine.reconcile()
    assert counts.get("schedule_skipped") == 1 and "errors" not in counts
    skipped = h.engine.get_run("nightly:2026-12-07T12:01:00Z")
    assert skipped.state is RunState.CANCELED and skipped.trigger.type is TriggerType.SCHEDULE
    rec = h.engine.schedules.get("nightly")
    assert rec is not None and rec.next_at == ms("2026-12-07T12:02:00Z")  # not retried forever


def test_a_slot_at_max_concurrent_runs_waits_its_turn_with_queue(at_noon: Harness) -> None:
    h = at_noon
    h.engine.publish(nightly(queue=True), production=True)
    h.engine.start_run("nightly", run_id="by-hand")
    h.clock.t = ms("2026-12-07T12:01:05Z")
    assert h.engine.reconcile().get("schedule_queued") == 1
    assert h.engine.get_run("nightly:2026-12-07T12:01:00Z").state is RunState.PENDING


def _fire_life(tmp_path: Path, crash_after: int | None) -> tuple[Faults, SqliteStore]:
    """Publish, let a slot come due, reconcile once — killed after write ``crash_after``."""
    inner = SqliteStore(tmp_path / "lakehook.db")
    faults = Faults()
    h = Harness(CrashingStore(inner, faults))  # type: ignore[arg-type]
    h.clock.t = ms("2026-12-07T12:00:10Z")
    h.engine.publish(nightly(), production=True)
    h.clock.t = ms("2026-12-07T12:01:02Z")
    faults.crash_after = None if crash_after is None else len(faults.ops) + crash_after
    with contextlib.suppress(Crash):
        h.engine.reconcile()
    return faults, inner


def test_a_crash_after_any_write_of_a_firing_still_gives_one_run_for_the_slot(tmp_path: Path) -> None:
    baseline, store = _fire_life(tmp_path / "count", None)
    writes = [op for op in baseline.ops if not op.startswith("put_flow")]
    store.close()
    points = len(writes) - 2  # from the first write of the firing to the advance (put_schedule)
    assert any(op.startswith("put_schedule") for op in writes[-3:]), baseline.log()
    for n in range(1, points + 1):
        faults, store = _fire_life(tmp_path / f"crash{n}", n)
        assert faults.crashed is not None
        restarted = Harness(SqliteStore(store.path))  # a new resolver over the same file
        restarted.clock.t = ms("2026-12-07T12:01:30Z")
        restarted.engine.reconcile()
        assert scheduled_runs(restarted) == ["nightly:2026-12-07T12:01:00Z"], faults.log(n)
        rec = restarted.engine.schedules.get("nightly")
        assert rec is not None and rec.next_at == ms("2026-12-07T12:02:00Z"), faults.log(n)
        store.close()


def test_slots_passed_during_a_crash_after_the_start_count_only_the_slots_that_did_not_run(
    tmp_path: Path,
) -> None:
    baseline, store = _fire_life(tmp_path / "count", None)
    store.close()
    before_advance = len([op for op in baseline.ops if not op.startswith("put_flow")]) - 2
    faults, store = _fire_life(tmp_path / "crash", before_advance)  # 12:01's run started, not recorded
    assert faults.crashed is not None and faults.crashed.op.startswith(("update_task", "update_attempt")), (
        faults.log()
    )
    restarted = Harness(SqliteStore(store.path))
    restarted.clock.t = ms("2026-12-07T12:03:30Z")  # back after 12:02 and 12:03 passed
    restarted.engine.reconcile()
    assert scheduled_runs(restarted) == ["nightly:2026-12-07T12:01:00Z", "nightly:2026-12-07T12:03:00Z"]
    assert restarted.engine.get_run("nightly:2026-12-07T12:03:00Z").trigger.skipped == 1  # 12:02 only
    store.close()


def test_a_restart_neither_repeats_nor_loses_the_next_slot(tmp_path: Path) -> None:
    first = Harness(SqliteStore(tmp_path / "lakehook.db"))
    first.clock.t = ms("2026-12-07T12:00:10Z")
    first.engine.publish(nightly(max_concurrent_runs=5), production=True)
    first.clock.t = ms("2026-12-07T12:01:00Z")
    first.engine.reconcile()
    # the process dies; a new one starts on the same file before the next slot, then ticks past it
    again = Harness(SqliteStore(tmp_path / "lakehook.db"))
    for t in ("2026-12-07T12:01:20Z", "2026-12-07T12:02:00.900Z", "2026-12-07T12:02:30Z"):
        again.clock.t = ms(t)
        again.engine.reconcile()
    assert scheduled_runs(again) == ["nightly:2026-12-07T12:01:00Z", "nightly:2026-12-07T12:02:00Z"]
    assert again.engine.get_run("nightly:2026-12-07T12:02:00Z").trigger.skipped == 0


def test_a_publish_cut_short_before_its_schedule_is_caught_up_by_the_switch(at_noon: Harness) -> None:
    h = at_noon
    h.store.put_flow(nightly())  # stored, but the process died before the schedule record
    assert h.engine.schedules.get("nightly") is None
    rec = h.engine.schedules.resume("nightly")
    assert rec.active and rec.spec == EVERY_MINUTE and rec.next_at == ms("2026-12-07T12:01:00Z")
