"""The hot path, core only: from a callback's settle to the next task's run-now, and a wide
fan-out, on SQLite and on DynamoDB Local (Amazon's engine on loopback).

No HTTP and no SDK: the engine of the local stack and the Lambda (wiring.build_engine) over a
store, with a launcher that only records when each run-now would go out. What it measures is
the store work between a notebook finishing and the next job being asked to start:

- **hop**: a chain; each task's promise is resolved as its run-now arrives; the time from the
  settle call to the next run-now, and the store requests made in between (DynamoDB: counted at
  the client, every request; they are sequential — one thread);
- **fan-out**: one parent with N children; the time from the parent's settle to the N-th
  run-now. A settle delivers ``fanout_inline`` children itself and hands the rest on in chunks
  (core/fanout.py), each to a thread of its own standing in for another invocation (on AWS an
  asynchronous self-invoke); ``invocations`` counts the settle and each chunk handed on.

    python bench/hot_path.py                       # SQLite only
    python tests/support/dynamodb_local.py run -- python bench/hot_path.py --dynamodb-local
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench._harness import machine, summary_ms  # noqa: E402
from lambda_resolver.core.clock import SystemClock  # noqa: E402
from lambda_resolver.core.context import Settings  # noqa: E402
from lambda_resolver.core.ids import TokenSigner  # noqa: E402
from lambda_resolver.core.launcher import Launched, RunStatus, TriggerRequest  # noqa: E402
from lambda_resolver.core.manifest import Dependency, FlowManifest, JobRef, TaskKind, TaskSpec  # noqa: E402
from lambda_resolver.core.models import PromiseState  # noqa: E402
from lambda_resolver.wiring import build_engine  # noqa: E402


class Counting:
    """A botocore client that counts its requests (every call but waiters and paginators)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.requests = inner, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or name.startswith(("get_waiter", "get_paginator", "can_", "_")):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.requests += 1
            return attr(*args, **kwargs)

        return call


class Recorder:
    """A launcher that notes when each run-now would go out (and the requests made by then)."""

    def __init__(self, counting: Counting | None) -> None:
        self.counting = counting
        self.triggered: list[tuple[float, int, TriggerRequest]] = []

    def trigger(self, request: TriggerRequest) -> Launched:
        count = self.counting.requests if self.counting else 0
        self.triggered.append((time.perf_counter(), count, request))
        return Launched(databricks_run_id=len(self.triggered))

    def cancel(self, databricks_run_id: int) -> None:
        return None

    def get_run(self, databricks_run_id: int) -> RunStatus:
        return RunStatus(life="RUNNING")


def flow(name: str, tasks: list[tuple[str, tuple[str, ...]]]) -> FlowManifest:
    specs = tuple(
        TaskSpec(key, TaskKind.JOB, depends_on=tuple(Dependency(d) for d in deps), job_key="noop")
        for key, deps in tasks
    )
    return FlowManifest(name=name, tasks=specs, jobs=(JobRef("noop", "noop", 1),), max_concurrent_runs=1000)


def engine(store: Any, counting: Counting | None, **settings: int) -> tuple[Any, Recorder]:
    recorder = Recorder(counting)
    eng = build_engine(
        store=store,
        launcher=recorder,
        signer=TokenSigner({"k": b"k" * 32}, "k"),
        settings=Settings(callback_url="http://127.0.0.1:8765", **settings),
        clock=SystemClock(),
    )
    return eng, recorder


def hop(store: Any, counting: Counting | None, length: int) -> dict[str, Any]:
    eng, rec = engine(store, counting)
    eng.publish(flow("chain", [(f"t{i}", (f"t{i - 1}",) if i else ()) for i in range(length)]))
    eng.start_run("chain", run_id=f"chain-{os.getpid()}-{time.time_ns()}")
    times, requests = [], []
    for _ in range(length - 1):
        request = rec.triggered[-1][2]
        started = time.perf_counter()
        before = counting.requests if counting else 0
        eng.settle(request.promise_id, PromiseState.RESOLVED, value={"rows": 1})
        at, count_at, _ = rec.triggered[-1]
        times.append((at - started) * 1000)
        requests.append(count_at - before)
    return {"hops": len(times), "ms": summary_ms(sorted(times)), "requests_to_run_now": sorted(set(requests))}


def fan_out(store: Any, counting: Counting | None, width: int, settings: dict[str, int]) -> dict[str, Any]:
    eng, rec = engine(store, counting, **settings)
    handed: list[threading.Thread] = []
    if hasattr(eng.ctx, "handoff"):  # the code before chunking has none: one settle does all
        from lambda_resolver.core.fanout import resume

        def invoke(chunk: Any) -> None:  # each chunk its own "invocation", as on AWS
            thread = threading.Thread(target=resume, args=(eng.advancer, chunk))
            handed.append(thread)
            thread.start()

        eng.ctx.handoff = invoke
    tasks = [("root", ()), *((f"c{i}", ("root",)) for i in range(width))]
    eng.publish(flow(f"fan{width}", tasks))
    eng.start_run(f"fan{width}", run_id=f"fan-{os.getpid()}-{time.time_ns()}")
    ((_, _, root),) = rec.triggered
    started = time.perf_counter()
    eng.settle(root.promise_id, PromiseState.RESOLVED, value=None)
    settle_ms = (time.perf_counter() - started) * 1000
    deadline = time.monotonic() + 600
    while len(rec.triggered) - 1 < width and time.monotonic() < deadline:
        time.sleep(0.001)
    invocations = 1 + len(handed)
    while handed:  # the last chunk counts the parent off after its children's run-nows
        handed.pop().join()
    children = rec.triggered[1:]
    assert len(children) == width, len(children)
    return {
        "width": width,
        "ms_to_last_run_now": round((max(c[0] for c in children) - started) * 1000, 1),
        "settle_call_ms": round(settle_ms, 1),
        "invocations": invocations,
    }


def stores(dynamodb_local: bool) -> Iterator[tuple[str, Any, Counting | None]]:
    """Each store in turn (DynamoDB Local started for its turn and stopped after)."""
    from lambda_resolver.stores.sqlite import SqliteStore

    with tempfile.TemporaryDirectory() as tmp:
        yield "sqlite", SqliteStore(Path(tmp) / "lakehook.db"), None
    if dynamodb_local:
        from lambda_resolver.stores.dynamodb import DynamoStore, create_table

        from support import dynamodb_local as ddbl

        server = ddbl.DynamoDBLocal.start()
        try:
            counting = Counting(server.client())
            create_table(counting.inner, "lakehook-hot")
            yield "dynamodb_local", DynamoStore("lakehook-hot", client=counting), counting
        finally:
            server.stop()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--dynamodb-local", action="store_true", help="also on DynamoDB Local (needs its namespace)"
    )
    ap.add_argument("--hops", type=int, default=51, help="tasks in the chain (hops = tasks - 1)")
    ap.add_argument("--width", type=int, action="append", help="fan-out widths (default 20, 100, 1000)")
    ap.add_argument(
        "--inline", type=int, help="fanout_inline: children one invocation delivers (default: Settings')"
    )
    ap.add_argument("--workers", type=int, help="fanout_workers (default: Settings')")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hot_path.json")
    args = ap.parse_args(argv)
    load = os.getloadavg()
    results: dict[str, Any] = {}
    settings = {k: v for k, v in (("fanout_inline", args.inline), ("fanout_workers", args.workers)) if v}
    for name, store, counting in stores(args.dynamodb_local):
        results[name] = {
            "hop": hop(store, counting, args.hops),
            "fan_out": [fan_out(store, counting, w, settings) for w in (args.width or [20, 100, 1000])],
            "settings": settings,
        }
        print(name, json.dumps(results[name]))
    doc = {
        "benchmark": "hot_path",
        "command": "python bench/hot_path.py " + " ".join(argv),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(load),
        "method": __doc__,
        "results": results,
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
