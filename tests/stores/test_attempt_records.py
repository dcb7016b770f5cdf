"""A task and its attempt's promise, changed together: the claim that creates the promise, the
settle that finishes the task, the delivery that claims a one-parent child — on every store —
and, on DynamoDB, promises a previous version kept as items of their own, settled by this one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lambda_resolver.core.errors import StoreConflict
from lambda_resolver.core.ids import task_promise_id
from lambda_resolver.core.models import Promise, PromiseState, Run, RunState, Task, TaskState
from lambda_resolver.core.store import Store
from lambda_resolver.stores.dynamodb import DynamoStore
from lambda_resolver.stores.dynamodb_codec import promise_item, task_key
from lambda_resolver.stores.dynamodb_embedded import embedded_promise

from support.aws import moto_table
from support.flows import chain
from support.harness import Harness

NOW = 1_790_000_000_000
W, TRIG, RUN_ = TaskState.WAITING, TaskState.TRIGGERING, TaskState.RUNNING


def _run(store: Store, *tasks: Task) -> None:
    store.create_run(Run("r1", "f", 1, RunState.RUNNING, NOW, open_leaves=1), list(tasks))


def _promise(key: str, attempt: int) -> Promise:
    return Promise(
        id=task_promise_id("r1", key, attempt),
        state=PromiseState.PENDING,
        created_at=NOW,
        timeout_at=NOW + 60_000,
        run_id="r1",
        task_key=key,
        attempt=attempt,
        nonce=f"n{attempt}",
    )


def _claim(key: str, attempt: int) -> dict[str, Any]:
    return {
        "state": TRIG.value,
        "attempt": attempt,
        "promise_id": task_promise_id("r1", key, attempt),
        "triggered_at": NOW,
        "due_at": NOW + 30_000,
    }


def test_a_claim_creates_its_attempts_promise_in_the_same_write(store: Store) -> None:
    _run(store, Task("r1", "a", W, 0))
    t, p = store.claim_task("r1", "a", _claim("a", 1), _promise("a", 1), expect_states={W}, expect_attempt=0)
    assert (t.state, t.attempt, t.promise_id) == (TRIG, 1, p.id)
    assert store.get_promise(p.id) == p
    assert store.read_attempt(p.id) == (p, t, store.get_run("r1"))
    with pytest.raises(StoreConflict):  # a second claimer loses, and creates nothing
        store.claim_task("r1", "a", _claim("a", 2), _promise("a", 2), expect_states={W}, expect_attempt=0)
    assert store.get_promise(task_promise_id("r1", "a", 2)) is None
    assert store.get_promise(p.id) == p


def test_a_settle_and_its_tasks_finish_land_together_or_not_at_all(store: Store) -> None:
    _run(store, Task("r1", "a", W, 0))
    _, p = store.claim_task("r1", "a", _claim("a", 1), _promise("a", 1), expect_states={W}, expect_attempt=0)
    settle = {"state": "RESOLVED", "value": {"rows": 2}, "settled_at": NOW + 1}
    finish = {"state": "SUCCESS", "value": {"rows": 2}, "settled_at": NOW + 1}
    t, done = store.update_attempt(
        "r1",
        "a",
        finish,
        settle,
        expect_states={TRIG, RUN_},
        expect_attempt=1,
        expect_promise=PromiseState.PENDING,
        deadline_after=NOW,
    )
    assert (t.state, t.value, done.state, done.value) == (
        TaskState.SUCCESS,
        {"rows": 2},
        PromiseState.RESOLVED,
        {"rows": 2},
    )
    with pytest.raises(StoreConflict):  # settled already: neither record changes
        store.update_attempt(
            "r1",
            "a",
            {"state": "FAILED"},
            {"state": "REJECTED"},
            expect_states={TRIG, RUN_},
            expect_attempt=1,
            expect_promise=PromiseState.PENDING,
        )
    assert store.get_promise(p.id) == done
    assert store.get_task("r1", "a") == t
    assert store.read_attempt(p.id) is not None


def test_a_promise_past_its_deadline_neither_settles_nor_finishes_its_task(store: Store) -> None:
    _run(store, Task("r1", "a", W, 0))
    _, p = store.claim_task("r1", "a", _claim("a", 1), _promise("a", 1), expect_states={W}, expect_attempt=0)
    with pytest.raises(StoreConflict):
        store.update_attempt(
            "r1",
            "a",
            {"state": "SUCCESS"},
            {"state": "RESOLVED"},
            expect_states={TRIG, RUN_},
            expect_attempt=1,
            expect_promise=PromiseState.PENDING,
            deadline_after=p.timeout_at,
        )
    assert store.get_promise(p.id) == p
    assert store.get_task("r1", "a").state is TRIG  # type: ignore[union-attr]


def test_delivering_a_one_parent_childs_outcome_claims_it_once(store: Store) -> None:
    _run(store, Task("r1", "a", TaskState.SUCCESS, 0), Task("r1", "b", W, 1))
    kw: dict[str, Any] = {
        "changes": _claim("b", 1),
        "promise": _promise("b", 1),
        "expect_states": {W, TaskState.RETRY_WAIT},
    }
    b, delivered, p = store.deliver_and_claim("r1", "b", "a", "ok", **kw)
    assert delivered and p is not None and (b.state, b.attempt, b.deps) == (TRIG, 1, {"a": "ok"})
    assert store.get_promise(p.id) == p
    again, delivered, p2 = store.deliver_and_claim("r1", "b", "a", "ok", **kw)
    assert not delivered and p2 is None and again == b


def test_a_child_waiting_for_another_parent_is_only_delivered_to(store: Store) -> None:
    _run(store, Task("r1", "a", TaskState.SUCCESS, 0), Task("r1", "c", W, 2))
    kw: dict[str, Any] = {"changes": _claim("c", 1), "promise": _promise("c", 1), "expect_states": {W}}
    c, delivered, p = store.deliver_and_claim("r1", "c", "a", "ok", **kw)
    assert delivered and p is None and (c.state, c.waiting, c.deps) == (W, 1, {"a": "ok"})
    assert store.get_promise(task_promise_id("r1", "c", 1)) is None


def test_an_earlier_attempts_promise_stays_readable_after_the_next_claim(store: Store) -> None:
    _run(store, Task("r1", "a", W, 0))
    store.claim_task("r1", "a", _claim("a", 1), _promise("a", 1), expect_states={W}, expect_attempt=0)
    store.update_attempt(
        "r1",
        "a",
        {"state": "RUNNING", "databricks_run_id": 77},
        {"databricks_run_id": 77},
        expect_states={TRIG},
        expect_attempt=1,
        expect_promise=None,
    )
    _, first = store.update_attempt(
        "r1",
        "a",
        {"state": "RETRY_WAIT", "due_at": NOW + 5},
        {"state": "REJECTED", "error": {"message": "boom"}, "settled_at": NOW + 1},
        expect_states={RUN_},
        expect_attempt=1,
        expect_promise=PromiseState.PENDING,
    )
    _, second = store.claim_task(
        "r1", "a", _claim("a", 2), _promise("a", 2), expect_states={TaskState.RETRY_WAIT}, expect_attempt=1
    )
    assert store.get_promise(first.id) == first
    assert store.get_promise(second.id) == second
    assert store.read_attempt(first.id) is None and store.read_attempt(second.id) is not None
    assert store.promise_by_databricks_run(77) == first
    with pytest.raises(StoreConflict):  # the earlier attempt is settled for good
        store.update_promise(first.id, {"state": "RESOLVED"})


def test_a_promise_of_its_own_beside_a_tasks_attempt_is_read_and_settled_apart(store: Store) -> None:
    """An id that does not name a task's current attempt (``<run>.<task>.<attempt>.<n>``, or a
    standalone id shaped like one) is a promise of its own, whatever the task item holds."""
    _run(store, Task("r1", "a", W, 0))
    _, attempt = store.claim_task(
        "r1", "a", _claim("a", 1), _promise("a", 1), expect_states={W}, expect_attempt=0
    )
    for pid in (f"{attempt.id}.3", "r1.a.7", "r1.nokey.1"):
        own = _promise("a", 1).replace(id=pid)
        assert store.create_promise(own) == (own, True)
        assert store.get_promise(pid) == own and store.read_attempt(pid) is None
        done = store.update_promise(pid, {"state": "RESOLVED", "value": pid, "settled_at": NOW})
        assert store.get_promise(pid) == done and done.value == pid
    assert store.get_promise(attempt.id) == attempt  # the attempt's own is untouched


# -- records of the previous version (DynamoDB) --------------------------------------------------
@pytest.fixture(params=["moto", "dynamodb_local"])
def dynamo(request: pytest.FixtureRequest) -> Iterator[tuple[DynamoStore, Any]]:
    if request.param == "moto":
        with moto_table(request.getfixturevalue("monkeypatch"), "lh-attempts") as client:
            yield DynamoStore("lh-attempts", client=client), client
    else:
        client, table = request.getfixturevalue("dynamodb_local_table")
        yield DynamoStore(table, client=client), client


def _as_previous_version(store: DynamoStore, client: Any, run_id: str, key: str) -> Promise:
    """Rewrite a task's item as the previous version left it: the attempt's promise an item of
    its own (``P#<id>``), the task item without it."""
    tkey = task_key(run_id, key)
    item = client.get_item(TableName=store.table_name, Key=tkey, ConsistentRead=True)["Item"]
    p = embedded_promise(item)
    assert p is not None
    client.put_item(TableName=store.table_name, Item=promise_item(p, 1, 30))
    client.update_item(
        TableName=store.table_name,
        Key=tkey,
        UpdateExpression="REMOVE p_doc, p_state, p_timeout_at, dbx_run_id",
    )
    store._table.remember(tkey, None)  # as a process that never saw it
    return p


def test_a_run_in_flight_across_the_upgrade_settles_its_previous_version_promise(
    dynamo: tuple[DynamoStore, Any],
) -> None:
    store, client = dynamo
    h = Harness(store)
    h.publish(chain("c", 2))
    run = h.start("c")
    old = _as_previous_version(store, client, run.run_id, "t0")
    assert store.read_attempt(old.id) is None and store.get_promise(old.id) == old
    assert old.databricks_run_id is not None and store.promise_by_databricks_run(old.databricks_run_id) == old
    token = h.signer.token(old.id, old.nonce)
    nonce = h.signer.nonce_of(old.id, token)  # the callback token handed out before the upgrade
    settled = h.engine.settle(old.id, PromiseState.RESOLVED, value={"rows": 3}, token_nonce=nonce)
    assert settled.promise.state is PromiseState.RESOLVED
    t0, t1 = h.task(run, "t0"), h.task(run, "t1")
    assert (t0.state, t0.value) == (TaskState.SUCCESS, {"rows": 3})
    assert t1.state is TaskState.RUNNING and len(h.launcher.runs) == 2
    assert store.get_promise(old.id) == settled.promise
    # and the next attempt is kept the new way
    assert t1.promise_id is not None and store.read_attempt(t1.promise_id) is not None


def test_a_claim_the_previous_version_made_without_a_promise_is_launched(
    dynamo: tuple[DynamoStore, Any],
) -> None:
    store, client = dynamo
    h = Harness(store)
    h.publish(chain("c", 1))
    run = h.start("c")
    old = _as_previous_version(store, client, run.run_id, "t0")
    client.delete_item(TableName=store.table_name, Key={"PK": {"S": f"P#{old.id}"}, "SK": {"S": "P"}})
    store.update_task(run.run_id, "t0", {"state": "TRIGGERING"}, expect_states={RUN_}, expect_attempt=1)
    h.clock.t += h.settings.stuck_claim_ms + 1
    h.engine.reconcile()
    p = store.get_promise(old.id)
    assert p is not None and p.state is PromiseState.PENDING and h.task(run, "t0").state is RUN_
    h.engine.settle(old.id, PromiseState.RESOLVED, value=1)
    assert h.task(run, "t0").state is TaskState.SUCCESS


def test_a_value_near_the_limit_is_stored_once_in_its_task_item(dynamo: tuple[DynamoStore, Any]) -> None:
    """A 250 KB value, held by the task and by its attempt's promise, fits DynamoDB's 400 KB item."""
    store, client = dynamo
    h = Harness(store)
    h.publish(chain("c", 2))
    run = h.start("c")
    big = {"blob": "x" * 250_000}
    p0 = h.task(run, "t0").promise_id
    assert p0 is not None
    h.engine.settle(p0, PromiseState.RESOLVED, value=big)  # settled and finished in one write
    assert h.task(run, "t0").value == big and store.get_promise(p0).value == big  # type: ignore[union-attr]
    # the long way: the promise settled alone first, then its task finished from it
    t1 = h.task(run, "t1")
    assert t1.promise_id is not None
    h.ctx.writes.settle_promise(t1.promise_id, PromiseState.RESOLVED, {"value": big}, now=h.clock.now())
    h.engine.advancer.drive(h.engine.get_run(run.run_id), "t1")
    assert h.task(run, "t1").value == big and h.engine.get_run(run.run_id).state is RunState.SUCCESS
    item = client.get_item(TableName=store.table_name, Key=task_key(run.run_id, "t1"))["Item"]
    assert len(item["doc"]["S"]) + len(item["p_doc"]["S"]) < 300_000
