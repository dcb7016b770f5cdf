"""A run's trigger survives both stores: created, read, rewritten by a transition, listed."""

from __future__ import annotations

from lambda_resolver.core.models import Run, RunState, RunTrigger, Task, TaskState, TriggerType
from lambda_resolver.core.store import Store

SLOT = 1_796_608_800_000  # 2026-12-07T02:00:00Z


def scheduled_run() -> Run:
    return Run(
        run_id="nightly:2026-12-07T02:00:00Z",
        flow="nightly",
        flow_version=3,
        state=RunState.PENDING,
        created_at=SLOT + 4_000,
        open_leaves=1,
        trigger=RunTrigger(TriggerType.SCHEDULE, SLOT, skipped=5),
    )


def test_a_scheduled_runs_trigger_round_trips(store: Store) -> None:
    run = scheduled_run()
    stored, created = store.create_run(run, [Task(run.run_id, "a", TaskState.WAITING, 0)])
    assert created and stored.trigger == run.trigger
    got = store.get_run(run.run_id)
    assert got is not None and got.trigger == RunTrigger(TriggerType.SCHEDULE, SLOT, 5)
    moved = store.update_run(run.run_id, {"state": RunState.RUNNING.value}, expect_states=(RunState.PENDING,))
    assert moved.state is RunState.RUNNING and moved.trigger == run.trigger
    (listed,) = store.list_runs(flow="nightly")
    assert listed.trigger == run.trigger


def test_a_run_without_trigger_reads_back_manual(store: Store) -> None:
    run = scheduled_run().replace(run_id="manual-1", trigger=RunTrigger())
    store.create_run(run, [Task(run.run_id, "a", TaskState.WAITING, 0)])
    got = store.get_run("manual-1")
    assert got is not None and got.trigger == RunTrigger(TriggerType.MANUAL, None, 0)
