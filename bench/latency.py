"""Callback → downstream trigger latency on the local stack, against a poller on the same workspace.

Run from the repository root (about four minutes: the poller takes ~1 s a task; ``--quick`` for
a smoke run)::

    .venv/bin/python bench/latency.py [--tasks 200] [--poll-interval 1.0] [--repeat 3]

1. A scratch bundle: one no-op child job and a lakehook flow ``chain`` of ``--tasks``
   ``run_job_task``s of it, task i depending on task i-1 (``job_parameters: {step: s<i>}``).
2. The local stack (``LocalStack``: the resolver's HTTP app on SQLite, the reconciler, a
   ``LocalWorkspace`` on loopback reached through databricks-sdk) with the workspace's executor
   swapped for an in-process no-op notebook: a ``CallbackExecutor`` whose callable calls
   ``notebook_lib.notify_done`` over real HTTP with the handle from its job parameters.
3. lakehook, ``--repeat`` times: start the flow (``POST /v1/runs``) and wait for its
   ``run_finished`` (after one discarded warm-up run). A hop i → i+1 is timed from (a)
   ``time.perf_counter_ns()`` in the notebook of task i just before ``notify_done`` sends its
   request to (b) the arrival of task i+1's ``jobs/run-now`` at the workspace
   (``LocalWorkspace.on_request``, the first thing its request handler does) — same process,
   same clock. End to end: from the start request to
   ``run_finished``. Each hop is also cut at the resolver's own events (``method`` in the JSON).
4. A profiled chain (``--no-profile`` skips it): cProfile around the resolver's handling of each
   callback, own time per component.
5. The poller, on the same workspace and executor: ``run-now`` of task i through databricks-sdk,
   ``runs/get`` every ``--poll-interval`` seconds (the first one interval after the run-now) until
   the run is terminated, then ``run-now`` of task i+1; the speedup is against it. Then once more
   with a first ``runs/get`` at once (Airflow's ``DatabricksRunNowOperator`` polls so), which
   catches most of these millisecond no-op runs immediately — no Databricks run ends that fast.
   A hop runs from run i's notebook returning to the arrival of run i+1's ``run-now``.

Prints a table and writes ``bench/results/latency.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ROOT,
    BenchStack,
    FlowTask,
    GcWatch,
    machine,
    quiet_logs,
    summary_ms,
    versions,
    write_bundle,
)

RESULTS = ROOT / "bench" / "results" / "latency.json"
FLOW = "chain"
GOAL = {"p50_ms": 20.0, "p99_ms": 100.0, "speedup_vs_poller": 50.0}
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")

# The resolver's events that cut a hop into parts, in the order they happen within one callback.
_CUTS = ("resolve", "task_finished", "task_claimed", "trigger")


def step_key(i: int, width: int) -> str:
    return f"s{i:0{width}d}"


class Cuts:
    """Timestamps inside the resolver for each hop: when the HTTP app got the callback
    (``resolve``), the finished task's ``task_finished`` event, the next task's ``task_claimed``,
    and the call of ``launcher.trigger`` for it. Keyed by the step they belong to."""

    def __init__(self) -> None:
        self.at: dict[str, dict[str, int]] = {c: {} for c in _CUTS}
        self.lock = threading.Lock()

    def mark(self, cut: str, step: str) -> None:
        now = time.perf_counter_ns()
        with self.lock:
            self.at[cut].setdefault(step, now)

    def clear(self) -> None:
        with self.lock:
            for d in self.at.values():
                d.clear()


def instrument(bench: BenchStack, cuts: Cuts, steps: dict[str, str]) -> None:
    """Timestamps at the resolver's seams, without touching its code: the HTTP app's ``resolve``
    (after the local server parsed the request and took its lock), the engine's events, and the
    launcher's ``trigger``. ``steps``: task key → step (they are the same here)."""
    app = bench.stack.server.app
    resolve = app.resolve

    def timed_resolve(event: dict[str, Any], context: Any) -> Any:
        path = str(event.get("rawPath", ""))
        if path.endswith("/resolve"):
            pid = path.split("/")[-2]  # <run_id>.<task_key>.<attempt>
            parts = pid.rsplit(".", 2)
            if len(parts) == 3:
                cuts.mark("resolve", parts[1])
        return resolve(event, context)

    app.resolve = timed_resolve
    launcher = bench.stack.engine.ctx.launcher
    trigger = launcher.trigger

    def timed_trigger(request: Any) -> Any:
        cuts.mark("trigger", str(request.parameters.get("step", "")))
        return trigger(request)

    launcher.trigger = timed_trigger

    def on_event(name: str, fields: dict[str, Any]) -> None:
        if name in ("task_finished", "task_claimed"):
            cuts.mark(name, steps.get(str(fields.get("task_key")), ""))

    bench.add_listener(on_event)


# -- lakehook -------------------------------------------------------------------------------------------
def lakehook_chain(
    bench: BenchStack, cuts: Cuts, keys: list[str], rep: int, timeout_s: float
) -> dict[str, Any]:
    from lambda_resolver.client import LakehookClient

    bench.seen.clear()
    cuts.clear()
    run_id = f"latency-{rep}-{time.time_ns()}"
    finished = threading.Event()
    ended: dict[str, Any] = {}

    def on_event(name: str, fields: dict[str, Any]) -> None:
        if name == "run_finished" and fields.get("run_id") == run_id:
            ended["ns"] = time.perf_counter_ns()
            ended["state"] = fields.get("state")
            finished.set()

    bench.add_listener(on_event)
    client = LakehookClient(bench.url, operator_key="")
    with GcWatch() as gcw:
        t0 = time.perf_counter_ns()
        client.start_run(FLOW, run_id=run_id)
        if not finished.wait(timeout_s):
            raise RuntimeError(f"the lakehook chain did not finish within {timeout_s}s")
    bench.remove_listener(on_event)
    bench.executor.join(10)
    seen = bench.seen
    hops = hop_latencies(seen.done, seen.arrived, keys)
    table = {"done": seen.done, "arrived": seen.arrived, **cuts.at}
    parts = hop_parts(table, keys)
    worst = sorted(range(len(hops)), key=lambda i: -hops[i])[:3]
    return {
        "run_state": ended["state"],
        "end_to_end_ms": round((ended["ns"] - t0) / 1e6, 1),
        "start_to_first_run_now_ms": round((seen.arrived[keys[0]] - t0) / 1e6, 2),
        "last_callback_to_run_finished_ms": round((ended["ns"] - seen.done[keys[-1]]) / 1e6, 2),
        "hops": summary_ms(hops),
        "hop_parts": parts,
        "gc_pauses": gcw.summary(),
        "worst_hops": [
            {
                "hop": f"{keys[i]}->{keys[i + 1]}",
                "ms": round(hops[i], 2),
                "parts_ms": one_hop(table, keys[i], keys[i + 1]),
                "gc_pause_inside_ms": round(gcw.overlap_ms(seen.done[keys[i]], seen.arrived[keys[i + 1]]), 1),
            }
            for i in worst
        ],
        "tasks_run": len(seen.executions),
        "runs_per_task_max": max(seen.executions.values()),
        "run_now_resent": seen.resent,
        "callback_errors": list(seen.callback_errors),
        "_samples_ms": hops,
    }


def hop_latencies(done: dict[str, int], arrived: dict[str, int], keys: list[str]) -> list[float]:
    missing = [k for k in keys if k not in arrived] + [k for k in keys[:-1] if k not in done]
    if missing:
        raise RuntimeError(f"no timestamp for {missing[:5]} ({len(missing)} missing)")
    return [(arrived[nxt] - done[cur]) / 1e6 for cur, nxt in itertools.pairwise(keys)]


# The parts of a hop i -> i+1: (from, to, whose timestamp each is: task i "cur" or i+1 "nxt").
PARTS = {
    "notify_done_to_resolver_app": ("done", "resolve", "cur", "cur"),
    "settle_to_task_finished": ("resolve", "task_finished", "cur", "cur"),
    "propagate_and_claim_next": ("task_finished", "task_claimed", "cur", "nxt"),
    "create_promise_and_build_run_now": ("task_claimed", "trigger", "nxt", "nxt"),
    "sdk_run_now_to_workspace": ("trigger", "arrived", "nxt", "nxt"),
}


def one_hop(table: dict[str, dict[str, int]], cur: str, nxt: str) -> dict[str, float]:
    out = {}
    for name, (a, b, wa, wb) in PARTS.items():
        ka, kb = (cur if wa == "cur" else nxt), (cur if wb == "cur" else nxt)
        if ka in table[a] and kb in table[b]:
            out[name] = round((table[b][kb] - table[a][ka]) / 1e6, 3)
    return out


def hop_parts(table: dict[str, dict[str, int]], keys: list[str]) -> dict[str, Any]:
    """Median, p95 and mean of each part of a hop, cut at the resolver's seams."""
    samples: dict[str, list[float]] = {name: [] for name in PARTS}
    for cur, nxt in itertools.pairwise(keys):
        for name, ms in one_hop(table, cur, nxt).items():
            samples[name].append(ms)
    out: dict[str, Any] = {}
    for name, values in samples.items():
        if values:
            s = summary_ms(values, 3)
            out[name] = {"p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"], "mean_ms": s["mean_ms"], "n": s["n"]}
    return out


# -- where the resolver's time goes -----------------------------------------------------------------------
# Where a function's own time is charged: the first matching (needle in file path or name) wins.
COMPONENTS = (
    ("sqlite3", "sqlite (C: statements, commits)"),
    ("/lambda_resolver/stores/", "store (Python around sqlite)"),
    ("/lambda_resolver/core/", "core (engine, advancer, machines)"),
    ("/lambda_resolver/http/", "http app (routes, auth, wire)"),
    ("/lambda_resolver/databricks/", "launcher"),
    ("/notebook_lib/", "notebook_lib (handle encoding)"),
    ("aws_lambda_powertools", "powertools (routing, validation)"),
    ("pydantic", "pydantic"),
    ("/databricks/sdk/", "databricks-sdk"),
    ("/requests/", "requests/urllib3/http.client"),
    ("/urllib3/", "requests/urllib3/http.client"),
    ("http/client.py", "requests/urllib3/http.client"),
    ("socket", "socket I/O (waiting for the workspace)"),
    ("<frozen os>", "os.environ scans (requests' proxy lookup per request)"),
    ("/json/", "json"),
)


def component(file: str, func: str) -> str:
    where = f"{file} {func}"
    for needle, name in COMPONENTS:
        if needle in where:
            return name
    return "other (stdlib, builtins)"


def profile_chain(bench: BenchStack, cuts: Cuts, keys: list[str], timeout_s: float) -> dict[str, Any]:
    """One more chain with cProfile on the resolver's handling of each callback (``app.resolve``,
    inside the local server's lock: the settle, the next task's claim and its run-now). Own time
    per component and the top functions, per callback. cProfile inflates Python-heavy code."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    app = bench.stack.server.app
    inner = app.resolve
    calls = [0]

    def profiled(event: dict[str, Any], context: Any) -> Any:
        if not str(event.get("rawPath", "")).endswith("/resolve"):
            return inner(event, context)
        calls[0] += 1
        prof.enable()
        try:
            return inner(event, context)
        finally:
            prof.disable()

    app.resolve = profiled
    try:
        lakehook_chain(bench, cuts, keys, -2, timeout_s)
    finally:
        app.resolve = inner
    n = max(1, calls[0])
    raw: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    by_component: dict[str, float] = {}
    rows = []
    for (file, line, func), (_cc, ncalls, own, cumulative, _callers) in raw.items():
        name = component(file, func)
        by_component[name] = by_component.get(name, 0.0) + own
        where = func if file == "~" else f"{Path(file).name}:{line}({func})"
        rows.append((own, cumulative, ncalls, where))
    total = sum(by_component.values())
    rows.sort(reverse=True)
    return {
        "callbacks": calls[0],
        "profiled_ms_per_callback": round(total * 1000 / n, 3),
        "own_ms_per_callback_by_component": {
            k: round(v * 1000 / n, 3) for k, v in sorted(by_component.items(), key=lambda kv: -kv[1])
        },
        "top_functions_by_own_time": [
            {
                "function": where,
                "own_ms_per_callback": round(own * 1000 / n, 3),
                "cumulative_ms_per_callback": round(cum * 1000 / n, 3),
                "calls_per_callback": round(nc / n, 1),
            }
            for own, cum, nc, where in rows[:12]
        ],
    }


# -- the poller -----------------------------------------------------------------------------------------
def poller_chain(
    bench: BenchStack, keys: list[str], interval_s: float, *, poll_at_once: bool = False
) -> dict[str, Any]:
    """The polling orchestrator: run-now of task i, then ``runs/get`` every ``interval_s`` until
    the run is terminated, then run-now of task i+1. The first ``runs/get`` comes one interval
    after the run-now — what a task shorter than the interval meets — or, with ``poll_at_once``,
    at once (then the no-op runs, which end within milliseconds, are mostly caught by it: a
    Databricks run never ends that fast)."""
    from databricks.sdk import WorkspaceClient

    ws = bench.workspace
    job_id = ws.job_ids()["noop"]
    w = WorkspaceClient(host=ws.url, token=ws.token)
    w.jobs.get(job_id)  # the client's first call (config probe, connection) outside the timing
    bench.seen.clear()
    polls = 0
    t0 = time.perf_counter_ns()
    last_seen_ns = t0
    for key in keys:
        run_id = int(w.jobs.run_now(job_id=job_id, job_parameters={"step": key}).run_id)
        if not poll_at_once:
            time.sleep(interval_s)
        while True:
            polls += 1
            state = w.jobs.get_run(run_id).state
            life = state.life_cycle_state.value if state and state.life_cycle_state else ""
            if life in TERMINAL:
                break
            time.sleep(interval_s)
        last_seen_ns = time.perf_counter_ns()
    seen = bench.seen
    hops = hop_latencies(seen.done, seen.arrived, keys)
    return {
        "poll_interval_s": interval_s,
        "first_poll": "at once" if poll_at_once else "one interval after run-now",
        "end_to_end_ms": round((last_seen_ns - t0) / 1e6, 1),
        "hops": summary_ms(hops),
        "runs_get_calls": polls,
        "tasks_run": len(seen.executions),
        "_samples_ms": hops,
    }


# -- the whole run --------------------------------------------------------------------------------------
def spread(values: Sequence[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
        "values": [round(v, 2) for v in values],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="tasks in the chain (default 200)")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="the poller's interval, s")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the lakehook chain")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 tasks, poll every 0.05 s")
    parser.add_argument("--no-poller", action="store_true", help="skip the poller (development)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled extra chain")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.poll_interval, args.repeat = 10, 0.05, 2
    if args.tasks < 2 or args.repeat < 1:
        parser.error("--tasks must be at least 2 and --repeat at least 1")
    quiet_logs()

    started, load_before = time.perf_counter(), os.getloadavg()
    width = len(str(args.tasks - 1))
    keys = [step_key(i, width) for i in range(args.tasks)]
    reps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lakehook-latency-") as tmp:
        bundle = Path(tmp) / "bundle"
        write_bundle(bundle, FLOW, [FlowTask(k, keys[i - 1 : i]) for i, k in enumerate(keys)])
        with BenchStack(bundle, Path(tmp) / "state") as bench:
            cuts = Cuts()
            instrument(bench, cuts, {k: k for k in keys})
            timeout = 60 + args.tasks * 2.0
            lakehook_chain(bench, cuts, keys, -1, timeout)  # warm-up, discarded: the SDK's import and client
            for rep in range(args.repeat):
                reps.append(lakehook_chain(bench, cuts, keys, rep, timeout))
                print(
                    f"lakehook #{rep + 1}: end to end {reps[-1]['end_to_end_ms']} ms, "
                    f"hop p50 {reps[-1]['hops']['p50_ms']} ms, p99 {reps[-1]['hops']['p99_ms']} ms",
                    flush=True,
                )
            profile = None if args.no_profile else profile_chain(bench, cuts, keys, timeout)
            poller = poll_at_once = None
            if not args.no_poller:
                poller = poller_chain(bench, keys, args.poll_interval)
                poll_at_once = poller_chain(bench, keys, args.poll_interval, poll_at_once=True)
            runs_per_token = bench.workspace.runs_per_token()

    doc = result_doc(
        args=args,
        argv=argv,
        reps=reps,
        poller=poller,
        runs_per_token=runs_per_token,
        load_before=load_before,
    )
    doc["resolver_profile"] = profile
    if poll_at_once is not None:
        poll_at_once.pop("_samples_ms")
        poll_at_once["speedup_end_to_end"] = round(
            poll_at_once["end_to_end_ms"] / doc["lakehook"]["end_to_end_ms"]["median"], 1
        )
        doc["poller_polling_at_once"] = poll_at_once
    doc["wall_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print_table(doc)
    print(f"wrote {args.out}")
    return 0


def result_doc(
    *,
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    reps: list[dict[str, Any]],
    poller: dict[str, Any] | None,
    runs_per_token: dict[str, int],
    load_before: Sequence[float],
) -> dict[str, Any]:
    all_hops = [h for r in reps for h in r.pop("_samples_ms")]
    if poller is not None:
        poller.pop("_samples_ms")
    median = {
        stat: round(statistics.median(r["hops"][stat] for r in reps), 2)
        for stat in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")
    }
    e2e = [r["end_to_end_ms"] for r in reps]
    lakehook = {
        "tasks": args.tasks,
        "hops_per_repetition": args.tasks - 1,
        "repetitions": len(reps),
        "hops_median_of_repetitions": median,
        "hops_spread": {
            stat: spread([r["hops"][stat] for r in reps]) for stat in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
        },
        "hops_pooled": summary_ms(all_hops),
        "end_to_end_ms": spread(e2e),
        "per_repetition": reps,
    }
    speedup = None
    if poller is not None:
        speedup = round(poller["end_to_end_ms"] / statistics.median(e2e), 1)
        poller["hop_ratio_p50"] = round(poller["hops"]["p50_ms"] / median["p50_ms"], 1)
    return {
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python bench/latency.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(load_before),
        "versions": versions(),
        "goal": {
            **GOAL,
            "met_p50": median["p50_ms"] <= GOAL["p50_ms"],
            "met_p99": median["p99_ms"] <= GOAL["p99_ms"],
            "met_speedup": None if speedup is None else speedup >= GOAL["speedup_vs_poller"],
        },
        "method": {
            "flow": f"a chain of {args.tasks} run_job_tasks of one no-op child job, task i depending on i-1, "
            "compiled from a scratch bundle and published by LocalStack",
            "stack": "LocalStack: the resolver's HTTP app (local_server, one resolve at a time) on "
            "SQLite, the reconciler, LocalWorkspace on loopback; the resolver reaches it through "
            "databricks-sdk",
            "notebook": "CallbackExecutor: a thread per workspace run calls notebook_lib.notify_done over "
            "HTTP (a new connection per call) with the lakehook handle from its job parameters",
            "hop": "(a) perf_counter_ns in task i's notebook just before notify_done sends; (b) "
            "perf_counter_ns when task i+1's jobs/run-now reaches the workspace "
            "(LocalWorkspace.on_request, first line of its request handler); same process",
            "hop_parts": "the same hop cut at: the resolver's HTTP app receiving the callback (after the "
            "local server parsed it and took its resolve lock), the task_finished event of task i, the "
            "task_claimed event of task i+1, the call of launcher.trigger for task i+1",
            "end_to_end": "lakehook: POST /v1/runs sent → the run_finished event; poller: the first "
            "run-now sent → the poller seeing the last run terminated",
            "poller": "databricks-sdk run_now of task i, runs/get one poll interval later and every "
            "interval after until the life cycle state is terminal, then run_now of task i+1; same "
            "workspace and executor; a hop is task i's notebook returning → task i+1's run-now "
            "arriving. The speedup is against this poller: any task shorter than the interval costs it "
            "one interval; a real task of random length costs it half an interval on average",
            "poller_polling_at_once": "the same with a first runs/get right after run_now (Airflow's "
            "DatabricksRunNowOperator does this): it catches most of these no-op runs, which end within "
            "milliseconds of starting, at once — a Databricks run never ends that fast, so its "
            "figures say more about the no-op than about polling",
            "resolver_profile": "one more chain after the measured ones, with cProfile around the "
            "resolver app's handling of each callback (settle, claim, run-now): own time per "
            "component and top functions, per callback; cProfile inflates Python-heavy code",
            "gc_pauses": "gc.callbacks during each repetition; a pause stops every thread of the process",
            "percentiles": "nearest rank; each statistic per repetition, then the median (and spread) "
            "across repetitions; hops_pooled pools every hop of every repetition",
            "timing_noise": "load_average_1m shows other work on the machine",
        },
        "lakehook": lakehook,
        "poller": poller,
        "speedup_end_to_end": speedup,
        "checks": {
            "runs_per_idempotency_token_max": max(runs_per_token.values()) if runs_per_token else 0,
            "lakehook_runs_started": len(runs_per_token),
        },
    }


def print_table(doc: dict[str, Any]) -> None:
    m = doc["machine"]
    print(
        f"{m['platform']}, {m['cpu_count']} CPU(s), Python {m['python']} — {doc['measured_at']} "
        f"(load {m['load_average_1m'][0]} before, {m['load_average_1m'][1]} after)"
    )
    lh = doc["lakehook"]
    med, e2e = lh["hops_median_of_repetitions"], lh["end_to_end_ms"]
    rows = [
        (
            f"lakehook hop, {lh['hops_per_repetition']} hops x {lh['repetitions']}",
            f"p50 {med['p50_ms']} ms, p95 {med['p95_ms']}, p99 {med['p99_ms']}, max {med['max_ms']}, "
            f"mean {med['mean_ms']} (p50 range {lh['hops_spread']['p50_ms']['min']}"
            f"-{lh['hops_spread']['p50_ms']['max']})",
        ),
        (
            f"lakehook end to end, {lh['tasks']} tasks",
            f"median {e2e['median']} ms ({e2e['min']}-{e2e['max']})",
        ),
    ]
    for name, part in lh["per_repetition"][0]["hop_parts"].items():
        rows.append((f"  {name.replace('_', ' ')}", f"p50 {part['p50_ms']} ms, mean {part['mean_ms']} ms"))
    p = doc["poller"]
    if p is not None:
        rows.append(
            (
                f"poller ({p['poll_interval_s']} s) end to end",
                f"{p['end_to_end_ms']} ms; hop p50 {p['hops']['p50_ms']} ms, max {p['hops']['max_ms']} ms",
            )
        )
        rows.append(("speedup end to end", f"{doc['speedup_end_to_end']}x"))
        q = doc.get("poller_polling_at_once")
        if q:
            rows.append(
                (
                    "poller polling at once (no-op runs)",
                    f"{q['end_to_end_ms']} ms; hop p50 {q['hops']['p50_ms']} ms; speedup "
                    f"{q['speedup_end_to_end']}x",
                )
            )
    prof = doc.get("resolver_profile")
    if prof:
        top = list(prof["own_ms_per_callback_by_component"].items())[:5]
        rows.append(
            (
                f"resolver per callback (cProfile, {prof['profiled_ms_per_callback']} ms)",
                ", ".join(f"{k.split(' (')[0]} {v}" for k, v in top),
            )
        )
    g = doc["goal"]
    rows.append(
        (
            "goal",
            f"p50 ≤ {g['p50_ms']} ms: {g['met_p50']}; p99 ≤ {g['p99_ms']} ms: {g['met_p99']}; "
            f"≥ {g['speedup_vs_poller']}x the poller: {g['met_speedup']}",
        )
    )
    width = max(len(k) for k, _ in rows)
    for key, val in rows:
        print(f"{key:<{width}}  {val}")


if __name__ == "__main__":
    sys.exit(main())
