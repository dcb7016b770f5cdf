"""The store contract: what "correct" means for every Store, run on SQLite and on DynamoDB."""

from __future__ import annotations

import pytest

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.models import Promise, PromiseState, Run, RunState, Task, TaskState
from lambda_resolver.core.store import Store

from support.flows import chain

NOW = 1_790_000_000_000


def promise(pid: str = "p1", **kw: object) -> Promise:
    fields: dict[str, object] = {"state": PromiseState.PENDING, "created_at": NOW, "timeout_at": NOW + 60_000}
    fields.update(kw)
    return Promise(id=pid, **fields)  # type: ignore[arg-type]


def make_run(store: Store, run_id: str = "r1", keys: tuple[str, ...] = ("a", "b", "c")) -> Run:
    run = Run(
        run_id=run_id,
        flow="f",
        flow_version=1,
        state=RunState.PENDING,
        created_at=NOW,
        params={"d": "x"},
        open_leaves=1,
    )
    tasks = [Task(run_id=run_id, key=k, state=TaskState.WAITING, waiting=i) for i, k in enumerate(keys)]
    stored, created = store.create_run(run, tasks)
    assert created
    return stored


# -- promises ----------------------------------------------------------------------------------------


def test_creating_a_promise_twice_returns_the_stored_one(store: Store) -> None:
    first, created = store.create_promise(promise(value=None, job={"job_id": 1}))
    again, created_again = store.create_promise(promise(timeout_at=NOW + 1))
    assert created and not created_again
    assert again == first
    assert store.get_promise("p1") == first


def test_a_missing_promise_reads_as_none(store: Store) -> None:
    assert store.get_promise("nope") is None


def test_settling_a_pending_promise_writes_once_and_a_second_write_conflicts(store: Store) -> None:
    store.create_promise(promise())
    done = store.update_promise(
        "p1", {"state": "RESOLVED", "value": {"rows": 1.5, "ok": [1, "x"]}, "settled_at": NOW + 5}
    )
    assert done.state is PromiseState.RESOLVED and done.value == {"rows": 1.5, "ok": [1, "x"]}
    with pytest.raises(StoreConflict) as err:
        store.update_promise("p1", {"state": "REJECTED", "error": {"message": "late"}})
    assert err.value.current == done
    assert store.get_promise("p1") == done


def test_a_settle_after_the_deadline_loses_its_condition(store: Store) -> None:
    store.create_promise(promise(timeout_at=NOW + 10))
    with pytest.raises(StoreConflict) as err:
        store.update_promise("p1", {"state": "RESOLVED"}, deadline_after=NOW + 10)
    assert err.value.current.state is PromiseState.PENDING
    timed = store.update_promise("p1", {"state": "REJECTED_TIMEDOUT"}, deadline_at_or_before=NOW + 10)
    assert timed.state is PromiseState.REJECTED_TIMEDOUT


def test_a_timeout_before_the_deadline_loses_its_condition(store: Store) -> None:
    store.create_promise(promise(timeout_at=NOW + 10))
    with pytest.raises(StoreConflict):
        store.update_promise("p1", {"state": "REJECTED_TIMEDOUT"}, deadline_at_or_before=NOW + 9)


def test_updating_a_missing_promise_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.update_promise("ghost", {"state": "RESOLVED"})


def test_a_heartbeat_moves_the_deadline_of_a_pending_promise(store: Store) -> None:
    store.create_promise(promise(timeout_at=NOW + 10))
    after = store.update_promise("p1", {"timeout_at": NOW + 99_000}, deadline_after=NOW + 5)
    assert after.timeout_at == NOW + 99_000
    assert store.get_promise("p1").timeout_at == NOW + 99_000  # type: ignore[union-attr]


def test_an_update_with_any_state_applies_to_a_settled_promise(store: Store) -> None:
    store.create_promise(promise())
    store.update_promise("p1", {"state": "RESOLVED"})
    after = store.update_promise("p1", {"databricks_run_id": 77, "run_page_url": "u"}, expect_state=None)
    assert after.state is PromiseState.RESOLVED and after.databricks_run_id == 77


def test_a_promise_is_found_by_its_databricks_run(store: Store) -> None:
    store.create_promise(promise("p1"))
    store.create_promise(promise("p2"))
    store.update_promise("p2", {"databricks_run_id": 4242})
    found = store.promise_by_databricks_run(4242)
    assert found is not None and found.id == "p2"
    assert store.promise_by_databricks_run(1) is None


# -- flows ---------------------------------------------------------------------------------------------


def test_publishing_a_flow_twice_makes_two_versions(store: Store) -> None:
    v1 = store.put_flow(chain("nightly", 3))
    v2 = store.put_flow(chain("nightly", 4))
    store.put_flow(chain("other", 1))
    assert (v1.version, v2.version) == (1, 2)
    assert store.get_flow("nightly") == v2
    assert store.get_flow("nightly", 1) == v1
    assert len(store.get_flow("nightly", 1).tasks) == 3  # type: ignore[union-attr]
    assert store.get_flow("nightly", 3) is None
    assert store.get_flow("missing") is None
    assert {(f.name, f.version) for f in store.list_flows()} == {("nightly", 2), ("other", 1)}


def test_a_large_flow_round_trips(store: Store) -> None:
    big = chain("big", 2000)
    stored = store.put_flow(big)
    assert store.get_flow("big") == stored
    assert stored.children("t0") == ("t1",)


# -- runs and tasks ------------------------------------------------------------------------------------


def test_creating_a_run_twice_keeps_the_first(store: Store) -> None:
    first = make_run(store)
    other = Run(run_id="r1", flow="g", flow_version=9, state=RunState.PENDING, created_at=NOW + 1)
    again, created = store.create_run(other, [])
    assert not created and again == first
    assert {t.key for t in store.list_tasks("r1")} == {"a", "b", "c"}
    assert store.get_task("r1", "b").waiting == 1  # type: ignore[union-attr]


def test_runs_list_newest_first_and_filter(store: Store) -> None:
    for i in range(3):
        run = Run(
            run_id=f"r{i}",
            flow="f" if i < 2 else "g",
            flow_version=1,
            state=RunState.PENDING,
            created_at=NOW + i,
        )
        store.create_run(run, [])
    store.update_run("r1", {"state": "RUNNING"}, expect_states=(RunState.PENDING,))
    assert [r.run_id for r in store.list_runs()] == ["r2", "r1", "r0"]
    assert [r.run_id for r in store.list_runs(flow="f")] == ["r1", "r0"]
    assert [r.run_id for r in store.list_runs(state=RunState.RUNNING)] == ["r1"]
    assert [r.run_id for r in store.list_runs(limit=1)] == ["r2"]


def test_a_run_update_is_conditional_on_its_state(store: Store) -> None:
    make_run(store)
    running = store.update_run("r1", {"state": "RUNNING", "due_at": NOW}, expect_states=(RunState.PENDING,))
    assert running.state is RunState.RUNNING
    with pytest.raises(StoreConflict) as err:
        store.update_run("r1", {"state": "RUNNING"}, expect_states=(RunState.PENDING,))
    assert err.value.current.state is RunState.RUNNING
    with pytest.raises(NotFound):
        store.update_run("ghost", {"state": "RUNNING"}, expect_states=(RunState.PENDING,))


def test_a_task_update_is_conditional_on_state_and_attempt(store: Store) -> None:
    make_run(store)
    claimed = store.update_task(
        "r1",
        "a",
        {"state": "TRIGGERING", "attempt": 1, "promise_id": "r1.a.1"},
        expect_states=(TaskState.WAITING,),
        expect_attempt=0,
    )
    assert (claimed.state, claimed.attempt, claimed.promise_id) == (TaskState.TRIGGERING, 1, "r1.a.1")
    with pytest.raises(StoreConflict) as err:  # the second claimer loses
        store.update_task(
            "r1",
            "a",
            {"state": "TRIGGERING", "attempt": 1},
            expect_states=(TaskState.WAITING,),
            expect_attempt=0,
        )
    assert err.value.current == claimed
    with pytest.raises(StoreConflict):  # right state, stale attempt
        store.update_task(
            "r1", "a", {"state": "RUNNING"}, expect_states=(TaskState.TRIGGERING,), expect_attempt=0
        )
    with pytest.raises(NotFound):
        store.update_task("r1", "zz", {"state": "RUNNING"}, expect_states=(TaskState.WAITING,))


def test_an_edge_counts_down_once_per_parent(store: Store) -> None:
    make_run(store, keys=("x", "y", "child"))  # child waits on 2
    c1, new1 = store.deliver_edge("r1", "child", "x", "ok")
    c2, new2 = store.deliver_edge("r1", "child", "x", "ok")
    assert new1 and not new2
    assert c1.waiting == 1 and c2.waiting == 1
    c3, new3 = store.deliver_edge("r1", "child", "y", "failed")
    assert new3 and c3.waiting == 0
    assert dict(c3.deps) == {"x": "ok", "y": "failed"}
    assert dict(store.get_task("r1", "child").deps) == {"x": "ok", "y": "failed"}  # type: ignore[union-attr]


def test_propagation_completes_exactly_once_and_counts_leaves(store: Store) -> None:
    run = Run(run_id="r1", flow="f", flow_version=1, state=RunState.RUNNING, created_at=NOW, open_leaves=2)
    store.create_run(run, [Task(run_id="r1", key=k, state=TaskState.WAITING, waiting=0) for k in "abc"])
    for k, state in (("a", "FAILED"), ("b", "CANCELED"), ("c", "SUCCESS")):
        store.update_task("r1", k, {"state": state, "due_at": NOW}, expect_states=(TaskState.WAITING,))
    with pytest.raises(StoreConflict):
        store.update_task("r1", "a", {"propagated": True}, expect_states=(TaskState.WAITING,))
    after_a = store.complete_propagation("r1", "a", leaf=None, failed=True)  # a non-leaf that failed
    assert after_a is not None and after_a.any_failed and after_a.open_leaves == 2
    assert store.complete_propagation("r1", "a", leaf=None, failed=True) is None
    after_b = store.complete_propagation("r1", "b", leaf="canceled", failed=False)
    after_c = store.complete_propagation("r1", "c", leaf="ok", failed=False)
    assert store.complete_propagation("r1", "c", leaf="ok", failed=False) is None
    assert after_b is not None and (after_b.open_leaves, after_b.canceled_leaves) == (1, 1)
    assert after_c is not None and (after_c.open_leaves, after_c.failed_leaves) == (0, 0)
    task = store.get_task("r1", "c")
    assert task is not None and task.propagated and task.due_at is None


def test_propagation_of_an_unfinished_task_does_nothing(store: Store) -> None:
    make_run(store)
    assert store.complete_propagation("r1", "a", leaf="ok", failed=False) is None
    assert store.get_run("r1").open_leaves == 1  # type: ignore[union-attr]


# -- slots and the due index ---------------------------------------------------------------------------


def test_slots_admit_up_to_the_limit_once_per_run(store: Store) -> None:
    store.put_flow(chain("f", 1))
    assert store.acquire_slot("f", "r1", 2)
    assert store.acquire_slot("f", "r1", 2)  # idempotent
    assert store.acquire_slot("f", "r2", 2)
    assert not store.acquire_slot("f", "r3", 2)
    assert sorted(store.slot_holders("f")) == ["r1", "r2"]
    store.release_slot("f", "r1")
    store.release_slot("f", "r1")
    assert store.acquire_slot("f", "r3", 2)


def test_the_due_index_lists_what_is_due_earliest_first(store: Store) -> None:
    store.create_promise(promise("p-late", due_at=NOW + 50))
    store.create_promise(promise("p-now", due_at=NOW + 10))
    store.create_promise(promise("p-never"))
    make_run(store)
    store.update_task("r1", "b", {"due_at": NOW + 20}, expect_states=(TaskState.WAITING,))
    store.update_run("r1", {"due_at": NOW + 30}, expect_states=(RunState.PENDING,))
    due = store.due(NOW + 40)
    assert [(d.kind, d.id, d.task_key) for d in due] == [
        ("promise", "p-now", None),
        ("task", "r1", "b"),
        ("run", "r1", None),
    ]
    assert [d.id for d in store.due(NOW + 40, limit=1)] == ["p-now"]
    store.update_task("r1", "b", {"due_at": None}, expect_states=(TaskState.WAITING,))
    store.update_promise("p-now", {"state": "RESOLVED", "due_at": None})
    assert [(d.kind, d.id) for d in store.due(NOW + 100)] == [("run", "r1"), ("promise", "p-late")]
