"""The repair writes, with one contract on SQLite and DynamoDB (moto)."""

from __future__ import annotations

import pytest

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.models import Run, RunState, Task, TaskState
from lambda_resolver.core.store import Store

NOW = 1_700_000_000_000
FINAL = (RunState.FAILED, RunState.SUCCESS, RunState.CANCELED)


def failed_run(store: Store) -> Run:
    """``a, b → child``; both delivered, the run FAILED with its leaf counted."""
    run = Run(run_id="r1", flow="f", flow_version=1, state=RunState.RUNNING, created_at=NOW, open_leaves=1)
    tasks = [
        Task(run_id="r1", key=k, state=TaskState.WAITING, waiting=w)
        for k, w in (("a", 0), ("b", 0), ("child", 2))
    ]
    store.create_run(run, tasks)
    store.update_task(
        "r1", "child", {"state": "UPSTREAM_FAILED", "attempt": 0}, expect_states=(TaskState.WAITING,)
    )
    store.deliver_edge("r1", "child", "a", "ok")
    store.deliver_edge("r1", "child", "b", "failed")
    store.complete_propagation("r1", "child", leaf="failed", failed=True)
    return store.update_run("r1", {"state": "FAILED", "ended_at": NOW}, expect_states=(RunState.RUNNING,))


def test_a_repair_starts_once_per_latest_repair_id_and_sets_the_counters(store: Store) -> None:
    before = failed_run(store)
    assert (before.failed_leaves, before.any_failed, before.open_leaves) == (1, True, 0)
    changes = {
        "state": "RUNNING",
        "open_leaves": 1,
        "failed_leaves": 0,
        "canceled_leaves": 0,
        "any_failed": False,
        "latest_repair_id": 1,
        "repair_count": 1,
        "ended_at": None,
        "due_at": NOW,
    }
    started = store.begin_repair("r1", changes, expect_states=FINAL, expect_repair_id=None)
    again = store.get_run("r1")
    for run in (started, again):
        assert run is not None
        assert (run.state, run.open_leaves, run.failed_leaves, run.any_failed) == (
            RunState.RUNNING,
            1,
            0,
            False,
        )
        assert (run.latest_repair_id, run.repair_count, run.ended_at, run.due_at) == (1, 1, None, NOW)
    with pytest.raises(StoreConflict) as lost:  # the second repair with the same view loses
        store.begin_repair("r1", changes, expect_states=FINAL, expect_repair_id=None)
    assert lost.value.current.latest_repair_id == 1
    store.update_run("r1", {"state": "FAILED"}, expect_states=(RunState.RUNNING,))
    with pytest.raises(StoreConflict):  # a stale repair id loses even on a final run
        store.begin_repair("r1", changes, expect_states=FINAL, expect_repair_id=None)
    second = store.begin_repair(
        "r1", {**changes, "latest_repair_id": 2}, expect_states=FINAL, expect_repair_id=1
    )
    assert second.latest_repair_id == 2
    with pytest.raises(NotFound):
        store.begin_repair("ghost", changes, expect_states=FINAL, expect_repair_id=None)


def test_a_reset_takes_back_the_chosen_edges_and_counts_them_up(store: Store) -> None:
    failed_run(store)
    reset = store.reset_task(
        "r1",
        "child",
        {"state": "WAITING", "attempt": 1, "retry_base": 0, "propagated": False},
        expect_states=(TaskState.UPSTREAM_FAILED,),
        expect_attempt=0,
        drop_edges=("b",),
    )
    stored = store.get_task("r1", "child")
    for t in (reset, stored):
        assert t is not None
        assert (t.state, t.attempt, t.waiting, t.propagated) == (TaskState.WAITING, 1, 1, False)
        assert dict(t.deps) == {"a": "ok"}
    with pytest.raises(StoreConflict):  # applied once: the attempt moved on
        store.reset_task(
            "r1",
            "child",
            {"state": "WAITING"},
            expect_states=(TaskState.UPSTREAM_FAILED,),
            expect_attempt=0,
            drop_edges=("b",),
        )
    with pytest.raises(StoreConflict):  # in WAITING now: nothing to reset
        store.reset_task(
            "r1",
            "child",
            {"state": "WAITING"},
            expect_states=(TaskState.UPSTREAM_FAILED,),
            expect_attempt=1,
            drop_edges=("b",),
        )
    # the rerun parent delivers again: once
    c, new = store.deliver_edge("r1", "child", "b", "ok")
    assert new and c.waiting == 0 and dict(c.deps) == {"a": "ok", "b": "ok"}


def test_a_reset_leaves_an_edge_that_was_never_delivered_counted(store: Store) -> None:
    run = Run(run_id="r1", flow="f", flow_version=1, state=RunState.CANCELED, created_at=NOW)
    store.create_run(run, [Task(run_id="r1", key="x", state=TaskState.WAITING, waiting=2)])
    store.update_task("r1", "x", {"state": "CANCELED"}, expect_states=(TaskState.WAITING,))
    store.deliver_edge("r1", "x", "p", "ok")
    reset = store.reset_task(
        "r1",
        "x",
        {"state": "WAITING"},
        expect_states=(TaskState.CANCELED,),
        expect_attempt=0,
        drop_edges=("p", "q"),
    )
    assert (reset.waiting, dict(reset.deps)) == (2, {})  # p taken back, q still owed
    with pytest.raises(NotFound):
        store.reset_task(
            "r1",
            "zz",
            {"state": "WAITING"},
            expect_states=(TaskState.CANCELED,),
            expect_attempt=0,
            drop_edges=(),
        )
