"""The demo-shaped flow on the real SdkLauncher against the loopback workspace, for fault tests.

``a ∥ b → c → d``: c fails its first attempt and is retried once; values flow on. Each task's
child job runs as a :class:`~lambda_resolver.local.CallbackExecutor` function that never calls
back: its return value is the notebook's exit value, so every task is settled by the engine's
reconciler from ``runs/get`` and ``runs/get-output`` — the Databricks routes the faults hit.
The engine's clock is a :class:`FakeClock` shared with the workspace; the SDK's retry clock
skips its waits (:class:`SkipClock`), so retry budgets keep their meaning and cost no time.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.clock import Clock
from databricks.sdk.config import Config

from lambda_resolver.core.clock import FakeClock
from lambda_resolver.core.ids import idempotency_token
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import Run, RunState, TaskState
from lambda_resolver.core.store import Store
from lambda_resolver.databricks import SdkLauncher
from lambda_resolver.local import CallbackExecutor, LocalRun, LocalWorkspace
from notebook_lib.handle import decode_handle

from support import flows
from support.harness import SETTINGS, Harness

TOKEN = "faults-test-token"
FLOW = "faultflow"
RETRY_MS = 1_000  # c's min_retry_interval
RETRY_BUDGET_S = 20  # the SDK's retry budget (virtual seconds: its waits are skipped)
STEP_MS = SETTINGS.check_interval_ms  # one reconciler tick: a run check, past the success grace
FAR = 10**13  # a "now" after every due_at
ROUTES = ("jobs/run-now", "jobs/runs/get", "jobs/runs/get-output")
FLAKY = "ValueError: flaky input"


class SkipClock(Clock):
    """The SDK's retry clock with its waits skipped: time jumps by what it would have slept."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def time(self) -> float:
        return time.time() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += seconds


def build_client(url: str, *, retry_timeout_s: int = RETRY_BUDGET_S, http_timeout_s: float = 10) -> Any:
    """A real ``WorkspaceClient`` (PAT auth) whose retries skip their waits."""
    cfg = Config(
        host=url,
        token=TOKEN,
        retry_timeout_seconds=retry_timeout_s,
        http_timeout_seconds=http_timeout_s,
        clock=SkipClock(),
    )
    return WorkspaceClient(config=cfg)


def poll(condition: Any, timeout_s: float = 10.0, what: str = "the condition") -> None:
    """Wait until ``condition()`` is true, checking every 10 ms; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s} s"
        time.sleep(0.01)


def demo_flow(name: str = FLOW) -> FlowManifest:
    """The demo's shape (support.flows.demo_flow) with this module's retry interval."""
    return flows.demo_flow(name, retry_ms=RETRY_MS)


JOB_PARAMS = {"job_a": (), "job_b": (), "job_c": ("rows_a", "rows_b"), "job_d": ("total",)}
EXPECTED_VALUES = {"a": {"rows": 10}, "b": {"rows": 5}, "c": {"total": 15}, "d": {"published": 15}}
EXPECTED_ATTEMPTS = {"a": 1, "b": 1, "c": 2, "d": 1}


def notebook(run: LocalRun) -> Any:
    """Every child job's notebook: its exit value, or an exception for c's first attempt."""
    promise_id = decode_handle(run.job_parameters["lakehook"]).promise_id
    suffix = promise_id.rsplit(".", 1)[-1]
    attempt = int(suffix) if suffix.isdigit() else 1  # a standalone promise has no attempt
    p = run.job_parameters
    if run.job_name == "job_a":
        return {"rows": 10}
    if run.job_name == "job_b":
        return {"rows": 5}
    if run.job_name == "job_c":
        if attempt == 1:
            raise ValueError("flaky input")
        return {"total": int(p["rows_a"]) + int(p["rows_b"])}
    return {"published": int(p["total"])}


def register_jobs(ws: LocalWorkspace) -> dict[str, int]:
    """The flow's child jobs at ids 1..4, each declaring its parameters."""
    ids = {}
    for i, (name, params) in enumerate(JOB_PARAMS.items(), start=1):
        spec = {"parameters": [{"name": "lakehook", "default": ""}] + [{"name": n} for n in params]}
        ids[name] = ws.register_job(i, name, spec, key=name)
    return ids


class RetryStorm(BaseException):
    """Too many run-now calls or claims: raised past the engine's error handling (it is no
    Exception), so a retry loop ends the test instead of hanging it."""


class GuardedLauncher:
    """The launcher, with a ceiling on ``trigger`` calls (a demo life needs a handful)."""

    def __init__(self, inner: SdkLauncher, limit: int = 60) -> None:
        self.inner, self.limit, self.triggers = inner, limit, 0

    def trigger(self, request: Any) -> Any:
        self.triggers += 1
        if self.triggers > self.limit:
            raise RetryStorm(f"{self.triggers} run-now calls: a retry storm")
        return self.inner.trigger(request)

    def cancel(self, databricks_run_id: int) -> None:
        self.inner.cancel(databricks_run_id)

    def get_run(self, databricks_run_id: int) -> Any:
        return self.inner.get_run(databricks_run_id)


@dataclass
class FaultStack:
    """A store, the engine on the real SdkLauncher, and a loopback workspace sharing one clock."""

    store: Store
    ws: LocalWorkspace
    executor: CallbackExecutor
    h: Harness
    clock: FakeClock
    stats: Counter[str] = field(default_factory=Counter)

    def start(self, run_id: str, name: str = FLOW) -> Run:
        return self.h.start(name, run_id=run_id)

    def quiesce(self, timeout: float = 10.0) -> None:
        """Wait until every run the workspace started has ended (its notebook returned)."""
        for r in self.ws.runs():
            self.ws.wait(r.run_id, timeout)

    def drive(self, run_id: str, *, step_ms: int = STEP_MS, timeout_s: float = 30.0) -> Run:
        """Tick the reconciler, letting the notebooks finish between ticks, until the run ends."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.quiesce()
            run = self.h.run(run_id)
            if run.state.final:
                return run
            assert time.monotonic() < deadline, (
                f"run {run_id} still {run.state.value}: {self.h.states(run_id)}"
            )
            counts = self.h.advance(step_ms)
            self.stats["ticks"] += 1
            self.stats["reconcile_errors"] += counts.get("errors", 0)


def build_stack(
    store: Store, *, http_timeout_s: float = 10, retry_timeout_s: int = RETRY_BUDGET_S
) -> FaultStack:
    """Start a workspace (call ``close_stack`` after) and wire the engine to it."""
    clock = FakeClock()
    executor = CallbackExecutor(notebook)
    ws = LocalWorkspace(executor=executor, token=TOKEN, clock=clock).start()
    register_jobs(ws)
    client = build_client(ws.url, retry_timeout_s=retry_timeout_s, http_timeout_s=http_timeout_s)
    launcher = GuardedLauncher(SdkLauncher(lambda: client))
    h = Harness(store, launcher=launcher, clock=clock)
    record, claims = h.ctx.event, Counter[str]()

    def guarded(name: str, fields: dict[str, Any]) -> None:  # a retry loop that never launches
        record(name, fields)
        if name == "task_claimed":
            claims[fields["run_id"]] += 1
            if claims[fields["run_id"]] > 60:
                raise RetryStorm(f"{claims[fields['run_id']]} attempts claimed: a retry loop")

    h.ctx.event = guarded
    h.publish(demo_flow())
    return FaultStack(store, ws, executor, h, clock)


def close_stack(s: FaultStack) -> None:
    s.ws.faults.clear()
    s.executor.join()
    s.ws.close()


def attempt_tokens(s: FaultStack, run_id: str) -> set[str]:
    """The idempotency token of every attempt the run made (1..attempt of each task)."""
    tokens = set()
    for t in s.store.list_tasks(run_id):
        for n in range(1, t.attempt + 1):
            tokens.add(idempotency_token(f"{run_id}.{t.key}.{n}"))
    return tokens


def assert_demo_succeeded(s: FaultStack, run_id: str) -> None:
    """The invariants of a faulted demo run: SUCCESS with the values and attempts of a clean one,
    exactly one workspace run per attempt's token (none lost, none duplicated), nothing due."""
    run = s.h.run(run_id)
    tasks = {t.key: t for t in s.store.list_tasks(run_id)}
    assert run.state is RunState.SUCCESS, (run.state, s.h.states(run_id))
    assert {k: t.state for k, t in tasks.items()} == dict.fromkeys(EXPECTED_VALUES, TaskState.SUCCESS)
    assert {k: t.value for k, t in tasks.items()} == EXPECTED_VALUES
    assert {k: t.attempt for k, t in tasks.items()} == EXPECTED_ATTEMPTS
    first_c = s.h.engine.get_promise(f"{run_id}.c.1")
    assert first_c.error is not None and first_c.databricks_run_id is not None
    assert s.ws.run(first_c.databricks_run_id).result == "FAILED"  # the retried attempt really failed
    per_token = s.ws.runs_per_token()
    mine = attempt_tokens(s, run_id)
    assert len(mine) == sum(EXPECTED_ATTEMPTS.values())
    assert {tok: per_token.get(tok, 0) for tok in mine} == dict.fromkeys(mine, 1)
    # every recorded Databricks run is the one the workspace holds for that attempt's token
    for t in tasks.values():
        assert t.databricks_run_id is not None
        assert s.ws.run(t.databricks_run_id).idempotency_token == idempotency_token(t.promise_id or "")
    assert s.store.due(FAR, 100) == []
