"""DynamoDB-only behaviour: the table, large manifests, request shapes, TTL, the due index,
optimistic concurrency. What every store must do is in the contract suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lambda_resolver.core.errors import NotFound, StoreConflict, ValueTooLarge
from lambda_resolver.core.models import Promise, PromiseState, Run, RunState, Task, TaskState
from lambda_resolver.stores.dynamodb import DynamoStore

from support.aws import moto_table
from support.flows import flow, job_task
from support.harness import Harness

TABLE = "lakehook-test"
NOW = 1_790_000_000_000
DAY_S = 86_400


class Recording:
    """A client that records every call (operation, arguments), and can run a hook before one."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.before: dict[str, Callable[[dict[str, Any]], object]] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            hook = self.before.pop(name, None)
            if hook is not None:
                hook(kwargs)
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_table(monkeypatch, TABLE) as raw:
        yield raw


@pytest.fixture
def rec(client: Any) -> Recording:
    return Recording(client)


@pytest.fixture
def store(rec: Recording) -> DynamoStore:
    return DynamoStore(TABLE, client=rec)


def raw_item(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(
        TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
    ).get("Item")
    return item


def promise(pid: str = "p1", **kw: Any) -> Promise:
    return Promise(id=pid, state=PromiseState.PENDING, created_at=NOW, timeout_at=NOW + 60_000, **kw)


def make_run(store: DynamoStore, run_id: str = "r1") -> None:
    run = Run(run_id=run_id, flow="f", flow_version=1, state=RunState.PENDING, created_at=NOW, open_leaves=1)
    tasks = [
        Task(run_id=run_id, key="a", state=TaskState.WAITING, waiting=0),
        Task(run_id=run_id, key="b", state=TaskState.WAITING, waiting=1),
    ]
    store.create_run(run, tasks)


# -- the table -----------------------------------------------------------------------------------------


def test_the_table_is_keyed_pk_sk_with_three_sparse_indexes_and_ttl(client: Any) -> None:
    table = client.describe_table(TableName=TABLE)["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("PK", "HASH"),
        ("SK", "RANGE"),
    ]
    indexes = {
        i["IndexName"]: ([(k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]], i["Projection"])
        for i in table["GlobalSecondaryIndexes"]
    }
    assert indexes["due"] == ([("due_pk", "HASH"), ("due_at", "RANGE")], {"ProjectionType": "KEYS_ONLY"})
    assert indexes["dbx"] == ([("dbx_run_id", "HASH")], {"ProjectionType": "KEYS_ONLY"})
    assert indexes["runs"][0] == [("runs_pk", "HASH"), ("created_sk", "RANGE")]
    assert sorted(indexes["runs"][1]["NonKeyAttributes"]) == ["flow", "state"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_importing_the_store_loads_no_aws_sdk_and_a_client_is_built_on_first_use(client: Any) -> None:
    code = (
        "import sys, lambda_resolver.stores.dynamodb; "
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    lazy = DynamoStore(TABLE)  # builds boto3.client("dynamodb") when first needed (moto here)
    assert lazy.create_promise(promise()) == (promise(), True)


# -- flows ---------------------------------------------------------------------------------------------


def test_a_10000_task_flow_spreads_over_chunk_items_and_reads_back_equal(
    store: DynamoStore, client: Any
) -> None:
    # random parameters defeat compression, so the manifest needs several items
    tasks = [
        job_task(f"t{i}", [f"t{i - 1}"] if i else [], params={"salt": os.urandom(32).hex()})
        for i in range(10_000)
    ]
    stored = store.put_flow(flow("big", tasks))
    items = client.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "F#big"}},
    )["Items"]
    assert len(items) > 1
    assert all(len(it["manifest"]["B"]) <= 350_000 for it in items)
    assert store.get_flow("big") == stored
    assert store.get_flow("big", 1) == stored
    assert store.list_flows() == [stored]


def test_a_manifest_too_large_for_one_transaction_is_refused_and_nothing_is_stored(
    store: DynamoStore,
) -> None:
    huge = flow("huge", [job_task("a")], source=os.urandom(5_000_000).hex())  # ~5 MB compressed
    with pytest.raises(ValueTooLarge):
        store.put_flow(huge)
    assert store.get_flow("huge") is None


# -- request shapes ------------------------------------------------------------------------------------


def test_every_write_is_conditional_and_nothing_scans(store: DynamoStore, rec: Recording) -> None:
    h = Harness(store)
    nightly = flow(
        "nightly",
        [job_task("a", max_retries=1), job_task("b"), job_task("c", ["a", "b"]), job_task("d", ["c"])],
        max_concurrent_runs=1,
    )
    h.publish(nightly)
    h.publish(nightly)  # version 2 moves ``latest`` by compare-and-set
    run = h.start("nightly", run_id="r1")
    h.fail(run, "a")
    h.advance(60_000)  # the retry of a
    h.succeed(run, "a", {"rows": 1.5})
    h.succeed(run, "b")
    h.engine.stop_run("r1")
    h.advance(120_000)
    h.start("nightly", run_id="r2")
    store.release_slot("nightly", "r2")
    assert not store.acquire_slot("unpublished", "r9", 1)
    store.list_runs(flow="nightly", state=RunState.CANCELED)
    store.promise_by_databricks_run(1000)
    store.due(NOW * 2)

    ops = {name for name, _ in rec.calls}
    assert {"put_item", "update_item", "transact_write_items"} <= ops
    assert not ops & {"scan", "batch_write_item", "delete_item", "execute_statement"}
    for name, kw in rec.calls:
        if name in ("put_item", "update_item"):
            assert "ConditionExpression" in kw, (name, kw)
            assert kw.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD", (name, kw)
        if name == "put_item":
            assert kw["ConditionExpression"].startswith("attribute_not_exists("), kw
        if name == "update_item":  # no update can create a missing item
            assert "attribute_exists(" in kw["ConditionExpression"], kw
        if name == "transact_write_items":
            for action in kw["TransactItems"]:
                ((op, body),) = action.items()
                assert "ConditionExpression" in body, action
                if op == "Update":  # attribute_exists, or publish's compare-and-set of the latest version
                    names = body["ExpressionAttributeNames"]
                    cas = (
                        f"{next(a for a, n in names.items() if n == 'latest')} = "
                        if "latest" in names.values()
                        else None
                    )
                    assert "attribute_exists(" in body["ConditionExpression"] or (
                        cas is not None and body["ConditionExpression"].startswith(cas)
                    ), action


def test_no_write_creates_a_missing_record(store: DynamoStore, client: Any) -> None:
    with pytest.raises(NotFound):
        store.update_promise("ghost", {"state": "RESOLVED"})
    with pytest.raises(NotFound):
        store.update_run("ghost", {"state": "RUNNING"}, expect_states=(RunState.PENDING,))
    with pytest.raises(NotFound):
        store.update_task("ghost", "a", {"state": "RUNNING"}, expect_states=(TaskState.WAITING,))
    with pytest.raises(NotFound):
        store.deliver_edge("ghost", "a", "b", "ok")
    assert store.complete_propagation("ghost", "a", leaf="ok", failed=True) is None
    store.release_slot("ghost", "r1")
    assert not store.acquire_slot("ghost", "r1", 5)  # slots exist only on published flows
    assert client.scan(TableName=TABLE)["Count"] == 0  # the test may scan; the store never does


# -- values, TTL, the due index -----------------------------------------------------------------------


def test_json_values_round_trip_exactly_never_through_decimal(store: DynamoStore) -> None:
    value = {"f": 0.1, "tiny": 5e-324, "big": 2**70, "neg": -1.5e308, "s": "ünï", "l": [None, True, {}]}
    store.create_promise(promise())
    settled = store.update_promise("p1", {"state": "RESOLVED", "value": value, "settled_at": NOW})
    again = store.get_promise("p1")
    assert again == settled
    assert again is not None
    assert json.dumps(again.value) == json.dumps(value)


def test_a_settled_promise_a_finished_task_and_a_final_run_get_a_ttl_pending_ones_do_not(
    store: DynamoStore, client: Any
) -> None:
    import time

    store.create_promise(promise())
    make_run(store)
    assert "expires_at" not in (raw_item(client, "P#p1", "P") or {})
    assert "expires_at" not in (raw_item(client, "R#r1", "R") or {})
    assert "expires_at" not in (raw_item(client, "R#r1", "T#a") or {})
    store.update_promise("p1", {"state": "RESOLVED", "settled_at": NOW})
    store.update_task("r1", "a", {"state": "SUCCESS"}, expect_states=(TaskState.WAITING,))
    store.update_run("r1", {"state": "SUCCESS"}, expect_states=(RunState.PENDING,))
    in_30_days = int(time.time()) + 30 * DAY_S
    for pk, sk in [("P#p1", "P"), ("R#r1", "T#a"), ("R#r1", "R")]:
        item = raw_item(client, pk, sk)
        assert item is not None
        assert abs(int(item["expires_at"]["N"]) - in_30_days) < 60, (pk, sk)
    assert "expires_at" not in (raw_item(client, "R#r1", "T#b") or {})


def test_clearing_due_at_takes_the_item_out_of_the_due_index(store: DynamoStore, client: Any) -> None:
    store.create_promise(promise(due_at=NOW))
    assert raw_item(client, "P#p1", "P") is not None
    store.update_promise("p1", {"due_at": None})
    item = raw_item(client, "P#p1", "P")
    assert item is not None
    assert "due_at" not in item
    assert "due_pk" not in item
    hits = client.query(
        TableName=TABLE,
        IndexName="due",
        KeyConditionExpression="due_pk = :d",
        ExpressionAttributeValues={":d": {"S": "DUE"}},
    )
    assert hits["Count"] == 0


def test_a_sharded_due_index_merges_every_shard_earliest_first(rec: Recording, client: Any) -> None:
    store = DynamoStore(TABLE, client=rec, due_shards=4)
    for i in range(20):
        store.create_promise(promise(f"p{i}", due_at=NOW + (i * 7) % 20))
    shards = {
        it["due_pk"]["S"]
        for it in client.scan(TableName=TABLE)["Items"]  # the test may scan; the store never does
    }
    assert len(shards) > 1
    due = store.due(NOW + 9, limit=5)
    assert [d.due_at for d in due] == [NOW + k for k in range(5)]
    assert len(store.due(NOW + 100)) == 20


# -- optimistic concurrency --------------------------------------------------------------------------


def test_a_rewrite_that_lost_to_a_compatible_change_decides_again_and_keeps_both(
    store: DynamoStore, rec: Recording
) -> None:
    make_run(store)
    rival = DynamoStore(TABLE, client=rec.client)
    rec.before["update_item"] = lambda _: rival.update_task(
        "r1", "a", {"run_page_url": "https://x/1"}, expect_states=(TaskState.WAITING,)
    )
    after = store.update_task("r1", "a", {"due_at": NOW}, expect_states=(TaskState.WAITING,))
    assert (after.run_page_url, after.due_at) == ("https://x/1", NOW)
    assert store.get_task("r1", "a") == after
    assert [n for n, _ in rec.calls].count("update_item") == 2  # lost once, then won


def test_a_rewrite_that_lost_to_a_state_change_raises_with_the_winner(
    store: DynamoStore, rec: Recording
) -> None:
    make_run(store)
    rival = DynamoStore(TABLE, client=rec.client)
    rec.before["update_item"] = lambda _: rival.update_task(
        "r1", "a", {"state": "TRIGGERING", "attempt": 1}, expect_states=(TaskState.WAITING,)
    )
    with pytest.raises(StoreConflict) as lost:
        store.update_task(
            "r1", "a", {"state": "TRIGGERING", "attempt": 1}, expect_states=(TaskState.WAITING,)
        )
    assert lost.value.current == store.get_task("r1", "a")
    assert lost.value.current.state is TaskState.TRIGGERING


def test_an_edge_delivered_between_read_and_write_is_neither_lost_nor_a_retry(
    store: DynamoStore, rec: Recording
) -> None:
    make_run(store)
    rival = DynamoStore(TABLE, client=rec.client)
    rec.before["update_item"] = lambda _: rival.deliver_edge("r1", "b", "a", "ok")
    after = store.update_task("r1", "b", {"due_at": NOW}, expect_states=(TaskState.WAITING,))
    assert (after.waiting, dict(after.deps), after.due_at) == (0, {"a": "ok"}, NOW)
    assert [n for n, _ in rec.calls].count("update_item") == 1


def test_propagation_between_read_and_write_is_not_undone(store: DynamoStore, rec: Recording) -> None:
    make_run(store)
    store.update_task("r1", "a", {"state": "SUCCESS"}, expect_states=(TaskState.WAITING,))
    rival = DynamoStore(TABLE, client=rec.client)
    rec.before["update_item"] = lambda _: rival.complete_propagation("r1", "a", leaf=None, failed=False)
    after = store.update_task("r1", "a", {"value": 1}, expect_states=(TaskState.SUCCESS,))
    assert after.propagated
    assert after.value == 1


def test_a_record_that_leaves_a_final_state_stops_expiring(store: DynamoStore, client: Any) -> None:
    make_run(store)
    store.update_task("r1", "a", {"state": "FAILED"}, expect_states=(TaskState.WAITING,))
    assert "expires_at" in (raw_item(client, "R#r1", "T#a") or {})
    store.update_task("r1", "a", {"state": "RETRY_WAIT"}, expect_states=(TaskState.FAILED,))
    assert "expires_at" not in (raw_item(client, "R#r1", "T#a") or {})
