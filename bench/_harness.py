"""What bench/latency.py and bench/scale.py share: a scratch bundle, the local stack with an
in-process no-op "notebook", request timestamps at the workspace, and the result header.

The stack is the real one (:class:`~lambda_resolver.local.stack.LocalStack`: the resolver's HTTP
app on SQLite, the reconciler, a ``LocalWorkspace`` on loopback reached through databricks-sdk);
only the workspace's executor is swapped for a :class:`~lambda_resolver.local.CallbackExecutor`
whose callable is the notebook: it reads its job parameters and calls ``notebook_lib.notify_done``
over real HTTP with the handle the resolver passed. Nothing is mocked between the two.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

NOOP_JOB = "noop"


# -- the bundle -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowTask:
    key: str
    depends_on: Sequence[str] = ()


def write_bundle(root: Path, flow: str, tasks: Iterable[FlowTask]) -> int:
    """A bundle at ``root``: one no-op child job and one lakehook flow of ``tasks``, each a
    ``run_job_task`` of that job with ``job_parameters: {step: <task key>}``. Returns the size
    in bytes of the flow's YAML file (written out in full, no anchors: what a generator writes)."""
    (root / "bundles").mkdir(parents=True, exist_ok=True)
    (root / "notebooks").mkdir(exist_ok=True)
    (root / "notebooks" / "noop.py").write_text(
        "# Databricks notebook source\nfrom notebook_lib import notify_done\n\nnotify_done()\n"
    )
    (root / "databricks.yml").write_text(
        "bundle: {name: lakehook_bench}\ninclude: [bundles/*.yml]\ntargets: {dev: {default: true}}\n"
    )
    (root / "bundles" / f"{NOOP_JOB}.yml").write_text(
        "resources:\n"
        "  jobs:\n"
        f"    {NOOP_JOB}:\n"
        f"      name: {NOOP_JOB}\n"
        "      parameters:\n"
        "        - {name: lakehook, default: ''}\n"
        "        - {name: step, default: ''}\n"
        "      tasks:\n"
        "        - task_key: main\n"
        "          notebook_task: {notebook_path: ../notebooks/noop.py}\n"
    )
    lines = [
        "resources:",
        "  jobs:",
        f"    {flow}:",
        f"      name: {flow}",
        "      tags: {lakehook: flow}",
        "      tasks:",
    ]
    for t in tasks:
        lines.append(f"        - task_key: {t.key}")
        if t.depends_on:
            lines.append(
                "          depends_on: [" + ", ".join(f"{{task_key: {d}}}" for d in t.depends_on) + "]"
            )
        lines.append(
            f"          run_job_task: {{job_id: '${{resources.jobs.{NOOP_JOB}.id}}', "
            f"job_parameters: {{step: {t.key}}}}}"
        )
    text = "\n".join(lines) + "\n"
    (root / "bundles" / f"{flow}.yml").write_text(text)
    return len(text.encode())


# -- what the workspace saw -------------------------------------------------------------------------
@dataclass
class Seen:
    """Timestamps (``time.perf_counter_ns``) per step: the notebook's ``done`` (just before its
    callback leaves, or before it returns when it has no handle) and the ``run-now`` arrivals at
    the workspace (first arrival per step; re-sends counted apart)."""

    done: dict[str, int] = field(default_factory=dict)
    arrived: dict[str, int] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)  # notebook runs per step
    resent: int = 0
    callback_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.done.clear()
            self.arrived.clear()
            self.executions.clear()
            self.resent = 0
            self.callback_errors.clear()


class BenchStack:
    """A started ``LocalStack`` on a scratch bundle whose runs are in-process no-op notebooks.

    ``notebook(run)``: record ``done``, then ``notify_done({"step": ...})`` with the run's
    ``lakehook`` handle (a new HTTP connection per call, as a notebook process makes it). The
    workspace's ``on_request`` hook records each ``run-now`` arrival. ``on_event`` sees the
    resolver's events (``run_finished`` ends a flow run)."""

    def __init__(
        self,
        bundle: Path,
        state: Path,
        *,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        settings: Mapping[str, int] | None = None,
    ) -> None:
        from lambda_resolver.local import CallbackExecutor
        from lambda_resolver.local.stack import LocalStack

        self.seen = Seen()
        self._events: list[Callable[[str, dict[str, Any]], None]] = [on_event] if on_event else []
        self.stack = LocalStack(bundle, state, port=0, on_event=self._event, settings=settings)
        self.executor = CallbackExecutor(self._notebook)
        self.started_s = 0.0

    def start(self) -> BenchStack:
        t0 = time.perf_counter()
        self.stack.start()
        self.started_s = time.perf_counter() - t0
        ws = self.stack.workspace
        ws.executor = self.executor  # the SubprocessExecutor the stack built stays idle
        ws.on_request = self._request
        return self

    def stop(self) -> None:
        self.stack.stop()

    def __enter__(self) -> BenchStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def workspace(self) -> Any:
        return self.stack.workspace

    @property
    def url(self) -> str:
        return self.stack.url

    def add_listener(self, fn: Callable[[str, dict[str, Any]], None]) -> None:
        self._events.append(fn)

    def remove_listener(self, fn: Callable[[str, dict[str, Any]], None]) -> None:
        self._events.remove(fn)

    def _event(self, name: str, fields: dict[str, Any]) -> None:
        for fn in tuple(self._events):  # listeners come and go on other threads
            fn(name, fields)

    def _notebook(self, run: Any) -> Any:
        from notebook_lib import notify_done

        step = run.job_parameters.get("step", "")
        handle = run.job_parameters.get("lakehook", "")
        seen = self.seen
        with seen.lock:
            seen.executions[step] = seen.executions.get(step, 0) + 1
            seen.done.setdefault(step, time.perf_counter_ns())  # (a): just before the callback leaves
        if handle:
            try:
                notify_done({"step": step}, handle=handle)
            except Exception as exc:
                with seen.lock:
                    seen.callback_errors.append(f"{step}: {type(exc).__name__}: {exc}")
                raise
        return {"step": step}

    def _request(self, route: str, raw: bytes, arrived_ns: int) -> None:
        if route != "jobs/run-now":
            return
        try:
            step = str((json.loads(raw).get("job_parameters") or {}).get("step", ""))
        except (ValueError, AttributeError):
            return
        seen = self.seen
        with seen.lock:
            if step in seen.arrived:
                seen.resent += 1
            else:
                seen.arrived[step] = arrived_ns


class GcWatch:
    """The garbage collector's pauses while watching: ``(generation, start_ns, end_ns)``. A pause
    stops every thread of the process — resolver, workspace and notebooks alike."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, int, int]] = []
        self._started = 0

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter_ns()
        if phase == "start":
            self._started = now
        else:
            self.pauses.append((int(info.get("generation", 0)), self._started, now))

    def overlap_ms(self, start_ns: int, end_ns: int) -> float:
        """Milliseconds of GC pauses inside ``[start_ns, end_ns]``."""
        total = sum(max(0, min(e, end_ns) - max(s, start_ns)) for _, s, e in self.pauses)
        return total / 1e6

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for gen in (0, 1, 2):
            ms = [(e - s) / 1e6 for g, s, e in self.pauses if g == gen]
            out[f"gen{gen}"] = {
                "count": len(ms),
                "total_ms": round(sum(ms), 1),
                "max_ms": round(max(ms), 1) if ms else 0.0,
            }
        return out


def quiet_logs() -> None:
    """The resolver logs one access line per request at INFO: keep the terminal (and the timing)
    free of them."""
    logging.basicConfig(level=logging.WARNING)
    for name in ("lakehook", "lakehook.dev", "lakehook.local", "lakehook.databricks", "databricks"):
        logging.getLogger(name).setLevel(logging.WARNING)


# -- statistics ---------------------------------------------------------------------------------------
def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return float("nan")
    rank = max(1, -(-len(sorted_ms) * q // 100))
    return sorted_ms[int(rank) - 1]


def summary_ms(samples_ms: Sequence[float], digits: int = 2) -> dict[str, Any]:
    s = sorted(samples_ms)
    return {
        "n": len(s),
        "p50_ms": round(percentile(s, 50), digits),
        "p95_ms": round(percentile(s, 95), digits),
        "p99_ms": round(percentile(s, 99), digits),
        "max_ms": round(s[-1], digits) if s else None,
        "min_ms": round(s[0], digits) if s else None,
        "mean_ms": round(sum(s) / len(s), digits) if s else None,
    }


# -- the result header --------------------------------------------------------------------------------
def machine(load_before: Sequence[float]) -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        # other work on the machine shows up in every figure: the 1-minute load before and after
        "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }


def versions() -> dict[str, str]:
    import sqlite3
    from importlib import metadata

    out = {"sqlite": sqlite3.sqlite_version}
    for name in ("databricks-sdk", "requests", "urllib3", "aws-lambda-powertools", "PyYAML"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out
