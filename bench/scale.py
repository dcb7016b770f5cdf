"""A layered flow of up to 10,000 tasks on the local stack: time per task as the flow grows, peak memory,
and the compile/publish time of the big bundle.

Run from the repository root (tens of minutes for the 10,000-task flow; ``--quick`` for a smoke run)::

    .venv/bin/python bench/scale.py [--sizes 1x100,10x100,100x100]

Each size is ``LAYERSxWIDTH``: a lakehook flow of LAYERS layers of WIDTH instant tasks, every task of
layer k+1 depending on every task of layer k (a full fan-in/fan-out between consecutive layers), all
``run_job_task``s of one no-op child job. Each size runs in a fresh child process
(``bench/scale.py --child``), so its memory figures are its own and no size inherits another's heap:

1. writes the bundle to a scratch directory (the flow's YAML in full, no anchors) and times its
   compile (``load_bundle`` + ``check_bundle``) and its publish (``put_flow`` into a scratch
   SQLite store) on their own;
2. starts the local stack on it (``LocalStack``: resolver HTTP app, SQLite, reconciler,
   ``LocalWorkspace`` through databricks-sdk; compile, job registration and publish again), with an
   in-process no-op notebook per workspace run that calls ``notify_done`` over HTTP;
3. starts the flow (``POST /v1/runs``) and waits for ``run_finished``; wall time per task, per
   layer (from the last ``run-now`` of one layer to the last of the next), and checks that every
   task ran exactly once and each idempotency token started one run;
4. memory: the child's peak RSS per phase — compiling, starting the stack, the run (``VmHWM``,
   reset between phases) — the run's being the whole local stack: resolver, store, workspace and
   the notebooks' threads share the process, as in ``lakehook dev``.

Prints a table and writes ``bench/results/scale.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
import statistics
import subprocess
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
    versions,
    write_bundle,
)

RESULTS = ROOT / "bench" / "results" / "scale.json"
FLOW = "layered"
DEFAULT_SIZES = "1x100,2x100,10x100,100x100"
QUICK_SIZES = "1x4,2x4,3x4"
GOAL_RATIO = 1.5  # the largest flow's steady time per task at most this times the smallest's


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"a size is LAYERSxWIDTH, e.g. 100x100, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def layer_keys(layers: int, width: int) -> list[list[str]]:
    lw, ww = len(str(layers - 1)), len(str(width - 1))
    return [[f"l{k:0{lw}d}_t{j:0{ww}d}" for j in range(width)] for k in range(layers)]


def flow_tasks(keys: list[list[str]]) -> list[FlowTask]:
    out = []
    for k, layer in enumerate(keys):
        deps = keys[k - 1] if k else []
        out.extend(FlowTask(key, deps) for key in layer)
    return out


def rss_mb() -> float:
    """The current resident set size, MiB (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def peak_rss_mb() -> float:
    """The process's peak RSS since start or since the last reset, MiB: ``VmHWM`` on Linux,
    ``ru_maxrss`` elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


class Peaks:
    """Peak RSS per phase. Linux lets a process reset its high-water mark (``5`` into
    ``/proc/self/clear_refs``), so each phase's peak is its own; without that, each figure is the
    peak so far."""

    def __init__(self) -> None:
        self.resettable = self._reset()
        self.phases: dict[str, float] = {}

    def end(self, phase: str) -> None:
        self.phases[phase] = peak_rss_mb()
        self._reset()

    @staticmethod
    def _reset() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            return False
        return True


# -- one size, in its own process --------------------------------------------------------------------
def run_size(layers: int, width: int, work: Path) -> dict[str, Any]:
    from lambda_resolver.client import LakehookClient
    from lambda_resolver.compiler import check_bundle, load_bundle
    from lambda_resolver.stores.sqlite import SqliteStore

    quiet_logs()
    keys = layer_keys(layers, width)
    tasks = layers * width
    out: dict[str, Any] = {
        "shape": f"{layers}x{width}",
        "layers": layers,
        "width": width,
        "tasks": tasks,
        "edges": (layers - 1) * width * width,
    }
    # The compiler imports its schema models on first use (~1 s): pay that on a one-task bundle.
    peaks = Peaks()
    t0 = time.perf_counter()
    write_bundle(work / "warm", FLOW, [FlowTask("only")])
    check_bundle(load_bundle(work / "warm", environ={}))
    out["compiler_first_use_s"] = round(time.perf_counter() - t0, 2)
    bundle = work / "bundle"
    t0 = time.perf_counter()
    out["bundle_yaml_bytes"] = write_bundle(bundle, FLOW, flow_tasks(keys))
    out["write_bundle_s"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    loaded = load_bundle(bundle, environ={})
    t1 = time.perf_counter()
    flows, problems = check_bundle(loaded)
    t2 = time.perf_counter()
    if problems:
        raise RuntimeError(f"the bundle does not compile: {problems[:3]}")
    manifest = flows[FLOW]
    scratch = SqliteStore(work / "publish.db")
    t3 = time.perf_counter()
    scratch.put_flow(manifest)
    t4 = time.perf_counter()
    scratch.close()
    out["compile_s"] = {
        "load_bundle": round(t1 - t0, 2),
        "check_bundle": round(t2 - t1, 2),
        "total": round(t2 - t0, 2),
    }
    out["publish_s"] = round(t4 - t3, 2)
    del loaded, flows, manifest
    peaks.end("compile_and_publish")

    finished = threading.Event()
    ended: dict[str, Any] = {}
    run_id = f"scale-{layers}x{width}"

    def on_event(name: str, fields: dict[str, Any]) -> None:
        if name == "run_finished" and fields.get("run_id") == run_id:
            ended["ns"] = time.perf_counter_ns()
            ended["state"] = fields.get("state")
            finished.set()

    with BenchStack(bundle, work / "state", on_event=on_event) as bench:
        out["stack_start_s"] = round(bench.started_s, 2)
        client = LakehookClient(bench.url, operator_key="")
        bench.stack.engine.ctx.launcher.client()  # the SDK's import and first call, outside the timing
        peaks.end("stack_start")
        out["rss_before_run_mb"] = rss_mb()
        with GcWatch() as gcw:
            t_start = time.perf_counter_ns()
            client.start_run(FLOW, run_id=run_id)
            t_started = time.perf_counter_ns()
            if not finished.wait(120 + tasks * 1.0):
                ran = len(bench.seen.executions)
                raise RuntimeError(f"{run_id} did not finish: {ran} of {tasks} tasks ran")
        out["gc_pauses"] = gcw.summary()
        bench.executor.join(30)
        seen = bench.seen
        wall_ms = (ended["ns"] - t_start) / 1e6
        out["run_state"] = ended["state"]
        out["wall_s"] = round(wall_ms / 1000, 2)
        out["per_task_ms"] = round(wall_ms / tasks, 3)
        out["start_request_ms"] = round((t_started - t_start) / 1e6, 1)
        boundaries = [t_start] + [max(seen.arrived[k] for k in layer) for layer in keys]
        layer_ms = [(b - a) / 1e6 for a, b in itertools.pairwise(boundaries)]
        out["per_layer_ms"] = layer_summary(layer_ms)
        out["per_layer_ms_series"] = [round(ms) for ms in layer_ms]
        if layers > 1:  # a layer of width tasks, each fanned into by width parents: the same work at any size
            out["steady_per_task_ms"] = round(statistics.median(layer_ms[1:]) / width, 3)
        out["last_layer_started_to_run_finished_ms"] = round((ended["ns"] - boundaries[-1]) / 1e6, 1)
        executions = seen.executions
        all_keys = [k for layer in keys for k in layer]
        tokens = bench.workspace.runs_per_token()
        out["checks"] = {
            "tasks_run": sum(1 for k in all_keys if executions.get(k)),
            "tasks_run_more_than_once": sum(1 for k in all_keys if executions.get(k, 0) > 1),
            "notebook_runs": sum(executions.values()),
            "run_now_requests": dict(bench.workspace.requests).get("jobs/run-now", 0),
            "run_now_resent": seen.resent,
            "runs_started": len(tokens),
            "runs_per_token_max": max(tokens.values()) if tokens else 0,
            "callback_errors": seen.callback_errors[:5],
            "runs_get_requests": dict(bench.workspace.requests).get("jobs/runs/get", 0),
        }
        peaks.end("run")
        out["rss_after_run_mb"] = rss_mb()
        out["peak_rss_mb"] = {**peaks.phases, "process": max(peaks.phases.values())}
        out["peak_rss_per_phase"] = peaks.resettable
    return out


def layer_summary(layer_ms: list[float]) -> dict[str, Any]:
    """Per-layer times; the first layer is started by the start request, so it stands apart."""
    later = layer_ms[1:]
    out: dict[str, Any] = {"first_layer": round(layer_ms[0], 1)}
    if later:
        tenth = max(1, len(later) // 10)
        out.update(
            {
                "later_layers": len(later),
                "median": round(statistics.median(later), 1),
                "min": round(min(later), 1),
                "max": round(max(later), 1),
                "first_tenth_mean": round(statistics.mean(later[:tenth]), 1),
                "last_tenth_mean": round(statistics.mean(later[-tenth:]), 1),
            }
        )
    return out


def child_main(size: str, out_path: Path) -> int:
    layers, width = parse_size(size)
    with tempfile.TemporaryDirectory(prefix="lakehook-scale-") as tmp:
        result = run_size(layers, width, Path(tmp))
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def run_child(size: str, work: Path) -> dict[str, Any]:
    out = work / f"size-{size}.json"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", size, "--child-out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-20:])
        raise RuntimeError(f"size {size} failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


# -- the whole run ---------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"comma-separated LAYERSxWIDTH shapes, smallest first (default {DEFAULT_SIZES})",
    )
    parser.add_argument("--quick", action="store_true", help=f"smoke run: sizes {QUICK_SIZES}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, args.child_out)
    if args.quick:
        args.sizes = QUICK_SIZES
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        try:
            parse_size(s)
        except argparse.ArgumentTypeError as exc:
            parser.error(str(exc))

    started, load_before = time.perf_counter(), os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="lakehook-scale-") as tmp:
        for size in sizes:
            r = run_child(size, Path(tmp))
            r["load_1m_after"] = round(os.getloadavg()[0], 2)
            results.append(r)
            print(
                f"{r['shape']:>8} ({r['tasks']:,} tasks): {r['per_task_ms']} ms/task, wall {r['wall_s']} s, "
                f"peak RSS of the run {r['peak_rss_mb']['run']} MiB",
                flush=True,
            )
    doc = result_doc(args, argv, results, load_before)
    doc["wall_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print_table(doc)
    print(f"wrote {args.out}")
    return 0


def result_doc(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    results: list[dict[str, Any]],
    load_before: Sequence[float],
) -> dict[str, Any]:
    smallest, largest = results[0], results[-1]
    steady = [r for r in results if "steady_per_task_ms" in r]
    goal: dict[str, Any] = {
        "steady_per_task_ratio_max": GOAL_RATIO,
        "compared": None,
        "ratio": None,
        "met": None,
        # the brief's literal figure: whole-run time per task, largest flow over smallest flow
        "wall_per_task_ratio_largest_to_smallest": round(largest["per_task_ms"] / smallest["per_task_ms"], 2),
    }
    if len(steady) >= 2:
        base, big = steady[0], steady[-1]
        ratio = round(big["steady_per_task_ms"] / base["steady_per_task_ms"], 2)
        goal.update(compared=[base["shape"], big["shape"]], ratio=ratio, met=ratio <= GOAL_RATIO)
    return {
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python bench/scale.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(load_before),
        "versions": versions(),
        "goal": goal,
        "method": METHOD,
        "sizes": results,
        "largest": {
            "shape": largest["shape"],
            "tasks": largest["tasks"],
            "compile_s": largest["compile_s"],
            "publish_s": largest["publish_s"],
            "stack_start_s": largest["stack_start_s"],
            "peak_rss_mb": largest["peak_rss_mb"],
            "peak_rss_per_phase": largest["peak_rss_per_phase"],
        },
    }


METHOD: dict[str, Any] = {
    "shapes": "LAYERSxWIDTH: every task of layer k+1 depends on every task of layer k; instant no-op tasks",
    "why_these_shapes": "width 100 is held fixed so that a task's work is the same at every size: its "
    "callback delivers its outcome to the 100 tasks of the next layer (100 edge writes, each reading "
    "the child's delivered edges: O(fan-in)), and the last callback of a layer starts the 100 tasks of "
    "the next (100 run-nows). Only the first layer (started by the start request) and the last (whose "
    "callbacks deliver nothing) differ, so the comparable figure is steady_per_task_ms: the median "
    "time of a layer after the first, divided by its width. 2x100 (200 tasks) is the smallest flow "
    "with that per-task work and the goal's baseline; 1x100 is the 100-task point, which has no edges "
    "at all: its per_task_ms (start request's run-nows + callbacks that deliver nothing) is reported "
    "but is not the same work, so wall_per_task_ratio_largest_to_smallest mixes shape with size",
    "steady_per_task_ms": "median over the layers after the first of (last run-now of layer k reaching "
    "the workspace - last run-now of layer k-1), divided by the width: the callbacks of layer k-1 "
    "(each settling and delivering to every task of layer k) and the run-nows of layer k",
    "isolation": "each size in a fresh child process (python bench/scale.py --child SIZE) with its own "
    "scratch bundle, store and workspace state",
    "per_task_ms": "wall time from POST /v1/runs sent to the run_finished event, divided by the tasks",
    "per_layer_ms": "from the last run-now of layer k-1 reaching the workspace to the last run-now of "
    "layer k; first_layer is measured from the start request",
    "compile_s": "load_bundle + check_bundle of the scratch bundle, in the child before the stack starts",
    "publish_s": "SqliteStore.put_flow of the compiled manifest into a scratch store",
    "stack_start_s": "LocalStack.start(): compile again, register the child job, publish, bind",
    "memory": "peak_rss_mb per phase of the child process — compile_and_publish (the bench's own "
    "compile and scratch publish), stack_start (LocalStack.start: compile, register, publish), run "
    "(the flow run) — from VmHWM, reset between phases with /proc/self/clear_refs (peak_rss_per_phase "
    "says whether that worked; otherwise each is the peak so far, ru_maxrss off Linux), and process: "
    "their maximum. The run's peak is the whole local stack (resolver, SQLite, workspace, notebook "
    "threads share the process, as in lakehook dev); a separate process per size keeps sizes apart. "
    "tracemalloc is not used: it slows every allocation 2-3x and would distort the timings; "
    "rss_before_run_mb: after the stack "
    "started, before the run",
    "notebook": "CallbackExecutor: a thread per workspace run calls notebook_lib.notify_done over HTTP "
    "(a new connection per call) with its lakehook handle",
}


def print_table(doc: dict[str, Any]) -> None:
    m = doc["machine"]
    print(
        f"{m['platform']}, {m['cpu_count']} CPU(s), Python {m['python']} — {doc['measured_at']} "
        f"(load {m['load_average_1m'][0]} before, {m['load_average_1m'][1]} after)"
    )
    rows = []
    for r in doc["sizes"]:
        lay = r["per_layer_ms"]
        rows.append(
            (
                f"{r['shape']} = {r['tasks']:,} tasks, {r['edges']:,} edges",
                f"{r['per_task_ms']} ms/task over the run (wall {r['wall_s']} s)",
            )
        )
        if "median" in lay:
            rows.append(
                (
                    "  steady layers",
                    f"{r['steady_per_task_ms']} ms/task; layer median {lay['median']} ms "
                    f"(first tenth {lay['first_tenth_mean']}, last tenth {lay['last_tenth_mean']})",
                )
            )
        rows.append(
            (
                "  compile / publish / stack start",
                f"{r['compile_s']['total']} s / {r['publish_s']} s / {r['stack_start_s']} s "
                f"(YAML {r['bundle_yaml_bytes']:,} bytes)",
            )
        )
        c, peak = r["checks"], r["peak_rss_mb"]
        rows.append(
            (
                "  peak RSS",
                f"run {peak['run']} MiB, stack start {peak['stack_start']} MiB, compile "
                f"{peak['compile_and_publish']} MiB (RSS before the run {r['rss_before_run_mb']} MiB)",
            )
        )
        rows.append(
            (
                "  checks",
                f"{c['tasks_run']} ran, {c['tasks_run_more_than_once']} twice, runs per token ≤ "
                f"{c['runs_per_token_max']}, {r['run_state']}",
            )
        )
    g = doc["goal"]
    compared = " / ".join(reversed(g["compared"] or []))
    rows.append(
        (
            "goal",
            f"steady per task {compared} = {g['ratio']} (≤ {g['steady_per_task_ratio_max']}: {g['met']}); "
            f"whole-run per task largest/smallest = {g['wall_per_task_ratio_largest_to_smallest']}",
        )
    )
    width = max(len(k) for k, _ in rows)
    for key, val in rows:
        print(f"{key:<{width}}  {val}")


if __name__ == "__main__":
    sys.exit(main())
