"""DynamoDB refusing requests — throttling, transaction conflicts — loses nothing.

The faults are injected where DynamoDB's answers enter the process: a botocore ``before-send``
hook answers chosen requests itself with the error DynamoDB sends (status 400, its JSON error
body), so the request never reaches DynamoDB Local — as when the service refuses it — and
everything above the wire runs as in production: botocore's retries (the resolver's default
configuration), the store's retries, the engine, the reconciler. Throttling and a conflicting
transaction are both refusals: nothing was written, so trying again is safe.

A flow of the demo's shape (``a ∥ b → c → d``, c fails once and is retried) is lived through
by the real engine with the fake workspace, once without faults and once per fault plan; every
faulty life must end as the clean one: the same states, attempts and values, one Databricks run
per attempt, nothing left due, no slot held.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from lambda_resolver.core.models import RunState, TaskState
from lambda_resolver.stores.dynamodb import DynamoStore

from support.flows import demo_flow
from support.harness import Harness

FAR = 10**13
ATTEMPTS = 4  # botocore's standard retry mode (its default): 4 attempts for DynamoDB
Plan = Callable[[str, dict[str, Any], int], "tuple[str, dict[str, Any]] | None"]


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


class Refusals:
    """A ``before-send`` hook: ``plan(operation, request body, n)`` names an error code and
    extra body fields to answer with, or None to let the request through. ``n`` is how many
    requests of that operation on the same items were refused already (a retry rebuilds the
    body: a new timestamp, another ``ver``). Counts what it refused."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.refused: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send.dynamodb", self)
        return client

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        body = json.loads(request.body)
        same = f"{operation} {_keys(body)}"
        with self._lock:
            answer = self.plan(operation, body, self._seen[same])
            if answer is None:
                return None
            self._seen[same] += 1
            code, extra = answer
            self.refused[f"{operation}: {code}"] += 1
        error = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code, **extra}
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
        return AWSResponse(request.url, 400, headers, _Body(json.dumps(error).encode()))


def _keys(body: dict[str, Any]) -> str:
    """The items a request touches, as one string."""
    bodies = [next(iter(a.values())) for a in body.get("TransactItems", [])] or [body]
    keys = [b.get("Key") or {k: b.get("Item", {}).get(k) for k in ("PK", "SK")} for b in bodies]
    return json.dumps(keys, sort_keys=True)


def every(k: int, plan: Plan) -> Plan:
    """``plan`` for one request in ``k`` (counted over all requests), each refused once."""
    counter = itertools.count(1)

    def pick(op: str, body: dict[str, Any], n: int) -> tuple[str, dict[str, Any]] | None:
        return plan(op, body, n) if n == 0 and next(counter) % k == 0 else None

    return pick


def throttling(k: int) -> Plan:
    """Throttling, as DynamoDB answers it: one single-item request in ``k`` refused once (either
    code, in turn), and every transaction refused once (``ThrottlingError``)."""
    codes = itertools.cycle(["ThrottlingException", "ProvisionedThroughputExceededException"])
    single = every(k, lambda op, body, n: (next(codes), {}))

    def plan(op: str, body: dict[str, Any], n: int) -> tuple[str, dict[str, Any]] | None:
        if op == "TransactWriteItems":
            return canceled(body, "ThrottlingError") if n == 0 else None
        return single(op, body, n)

    return plan


def canceled(body: dict[str, Any], reason: str) -> tuple[str, dict[str, Any]]:
    """TransactionCanceledException: the first action hit ``reason``, the others did not run."""
    reasons = [{"Code": reason, "Message": reason}] + [{"Code": "None"}] * (len(body["TransactItems"]) - 1)
    return "TransactionCanceledException", {"CancellationReasons": reasons}


def transaction_conflicts(times: int) -> Plan:
    """Every transaction meets a conflicting one ``times`` times in a row, then goes through."""

    def plan(op: str, body: dict[str, Any], n: int) -> tuple[str, dict[str, Any]] | None:
        return canceled(body, "TransactionConflict") if op == "TransactWriteItems" and n < times else None

    return plan


def write_conflicts(op: str, body: dict[str, Any], n: int) -> tuple[str, dict[str, Any]] | None:
    """A single-item write meets a transaction in progress on its item (DynamoDB answers
    TransactionConflictException: nothing was written)."""
    return ("TransactionConflictException", {}) if op in ("UpdateItem", "PutItem") else None


# -- one life ------------------------------------------------------------------------------------


def live(store: DynamoStore, succeed: Callable[..., None] = Harness.succeed) -> Harness:
    """The demo-shaped flow, lived to its end: a and b call back at the same time, c fails its
    first attempt, the reconciler starts its retry, c and d succeed (``succeed``: how a
    notebook's callback is sent)."""
    h = Harness(store)
    h.publish(demo_flow("faulty", retry_ms=1000))
    run = h.start("faulty", run_id="fault-run")
    both = [threading.Thread(target=h.succeed, args=(run, k, {"rows": r})) for k, r in (("a", 10), ("b", 5))]
    for t in both:
        t.start()
    for t in both:
        t.join()
    h.fail(run, "c")
    h.advance(1000)
    succeed(h, run.run_id, "c", {"total": 15})
    succeed(h, run.run_id, "d", {"published": True})
    h.advance(60_000)  # anything left due (a propagation that gave up) is the reconciler's
    return h


def outcome(h: Harness) -> dict[str, Any]:
    """What a life ended with: what must be the same with faults as without."""
    run = h.run("fault-run")
    tasks = {t.key: (t.state.value, t.attempt, t.value, t.propagated) for t in h.store.list_tasks(run.run_id)}
    return {
        "run": run.state.value,
        "tasks": tasks,
        "databricks_runs": sorted(r.request.promise_id for r in h.launcher.runs.values()),
        "duplicates": h.launcher.duplicates,
        "due": [d for d in h.store.due(FAR, 100) if d.id.startswith("fault-run")],
        "slots": h.store.slot_holders("faulty"),
    }


@pytest.fixture
def new_store(dynamodb_local_server: Any) -> Any:
    """``new_store(refusals)``: a DynamoStore on a new DynamoDB Local table through a plain
    client, with ``refusals`` hooked into it (if given)."""
    from lambda_resolver.stores.dynamodb import create_table

    admin, made = dynamodb_local_server.client(), []

    def make(refusals: Refusals | None = None) -> DynamoStore:
        made.append(f"lakehook-faults-{len(made)}")
        create_table(admin, made[-1])
        client = dynamodb_local_server.client()
        if refusals is not None:
            refusals.attach(client)
        return DynamoStore(made[-1], client=client)

    yield make
    for table in made:
        admin.delete_table(TableName=table)


@pytest.fixture
def clean(new_store: Any) -> dict[str, Any]:
    """The life without faults, as a reference."""
    result = outcome(live(new_store()))
    assert result["run"] == RunState.SUCCESS.value
    assert result["tasks"] == {
        "a": (TaskState.SUCCESS.value, 1, {"rows": 10}, True),
        "b": (TaskState.SUCCESS.value, 1, {"rows": 5}, True),
        "c": (TaskState.SUCCESS.value, 2, {"total": 15}, True),
        "d": (TaskState.SUCCESS.value, 1, {"published": True}, True),
    }
    assert len(result["databricks_runs"]) == 5 and result["duplicates"] == {}
    assert result["due"] == [] and result["slots"] == []
    return result


# -- the faults ----------------------------------------------------------------------------------


def test_throttled_requests_are_retried_and_lose_nothing(new_store: Any, clean: dict[str, Any]) -> None:
    """botocore retries a throttled request (backing off), a throttled transaction is the
    store's to try again: the life ends as without throttling."""
    refusals = Refusals(throttling(20))
    assert outcome(live(new_store(refusals))) == clean
    # the two the life made before (its run's counters), and c's second claim, which moves its
    # first attempt's promise out of the task item
    assert refusals.refused["TransactWriteItems: TransactionCanceledException"] == 3, refusals.refused
    assert refusals.refused.total() >= 2 + 4, refusals.refused


def test_a_callback_throttled_past_botocores_attempts_is_accepted_when_sent_again(
    new_store: Any, clean: dict[str, Any]
) -> None:
    """c's second attempt calls back while its promise is throttled for all of botocore's
    attempts: the callback fails (HTTP 500), the notebook sends it again, and it counts once."""
    from botocore.exceptions import ClientError

    def plan(op: str, body: dict[str, Any], n: int) -> tuple[str, dict[str, Any]] | None:
        settle = (  # the attempt's promise is settled in its task's item
            op == "UpdateItem"
            and (body["Key"]["PK"]["S"], body["Key"]["SK"]["S"]) == ("R#fault-run", "T#c")
            and "RESOLVED" in str(body)
        )
        return ("ThrottlingException", {}) if settle and n < ATTEMPTS else None

    refusals = Refusals(plan)
    failed: list[ClientError] = []

    def succeed(h: Harness, run: str, key: str, value: Any) -> None:
        for _ in range(3):  # notify_done retries a 5xx
            try:
                return Harness.succeed(h, run, key, value)
            except ClientError as exc:
                failed.append(exc)
        raise AssertionError("the callback never went through")

    assert outcome(live(new_store(refusals), succeed=succeed)) == clean
    assert refusals.refused == {"UpdateItem: ThrottlingException": ATTEMPTS}
    assert [e.response["Error"]["Code"] for e in failed] == ["ThrottlingException"]


def test_transaction_conflicts_are_tried_again_and_lose_nothing(
    new_store: Any, clean: dict[str, Any]
) -> None:
    """Every transaction (publishing, counting a leaf or a failure off) conflicts three times."""
    refusals = Refusals(transaction_conflicts(3))
    assert outcome(live(new_store(refusals))) == clean
    assert refusals.refused["TransactWriteItems: TransactionCanceledException"] >= 2 * 3, refusals.refused


def test_a_propagation_that_keeps_conflicting_is_finished_by_the_reconciler(
    new_store: Any, clean: dict[str, Any]
) -> None:
    """More conflicts in a row than the store tries: the settle answers, and the reconciler
    counts the task off later — once."""
    refusals = Refusals(transaction_conflicts(12))
    assert outcome(live(new_store(refusals))) == clean
    assert refusals.refused["TransactWriteItems: TransactionCanceledException"] >= 12, refusals.refused


def test_a_single_write_meeting_a_transaction_in_progress_loses_nothing(
    new_store: Any, clean: dict[str, Any]
) -> None:
    """One write in three meets a transaction on its item (TransactionConflictException)."""
    refusals = Refusals(every(3, write_conflicts))
    assert outcome(live(new_store(refusals))) == clean
    assert sum(refusals.refused.values()) > 5, refusals.refused
