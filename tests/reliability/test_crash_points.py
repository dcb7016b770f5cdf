"""Invariant 6: a crash at any point loses nothing, and starts no run twice.

One *life* of a flow run is a fixed script of what the outside world does: publish the flow,
start a run, the notebooks call back (``notify_done`` / ``notify_failed``), a Databricks webhook
arrives, the reconciler ticks. The engine triggers whatever it triggers. Counting the life's
store writes and Databricks calls (``support.crash``: the proxies the Context is built with are
the fault-injection seam), plus the arrival of each request, gives K crash points; for every n
in 1..K the life is lived again with the process killed right after operation n. Then, as after
a real crash, a *new* resolver starts (a new store object over the same data, a new context and
engine, no fault injection) and the world carries on in one of three ways:

- ``retried``: the clock passes every interval the reconciler waits for and the reconciler runs
  until it has nothing left to do; then the request in flight when the process died is sent
  again — a notebook's ``notify_done`` retries until it is answered, an operator re-runs the
  command — and every duplicate must be accepted idempotently;
- ``early``: the same, but the retried request arrives at once, before any reconciler pass —
  it meets the half-done state the crash left (a claim with a started but unrecorded run, ...);
- ``lost``: nobody re-sends it — the notebook gives up and its run ends, the webhook is gone —
  and the reconciler alone (``runs/get``, watchdogs, stuck claims, unfinished propagation) must
  finish the work. (A request that left no trace at all — a start or a cancel that never
  reached the store — is an error its sender saw: it is sent again.)

The Databricks side (the fake workspace) survives the crash: it keeps the runs it started, and
its idempotency tokens are what stand between a re-drive and a second run.

Every life must end as the uncrashed one: the same final states, attempts and values, each
attempt's token starting exactly one run, nothing left in the due index, no slot held.

The crash points are counted once, on SQLite, at collection. SQLite runs every point in every
mode by default; DynamoDB (moto, ~1.5 s a life) runs a few telling points by default and every
point with ``-m slow`` — at the store boundary and, one level down, after every DynamoDB request
(``CrashingClient``), which reaches inside store calls made of several requests.
"""

from __future__ import annotations

import functools
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.clock import FakeClock
from lambda_resolver.core.errors import RepairConflict
from lambda_resolver.core.ids import idempotency_token, task_promise_id
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import PromiseState, RunState, TaskState
from lambda_resolver.core.store import Store

from support import flows
from support.crash import (
    STORE_WRITES,
    Crash,
    CrashingClient,
    CrashingLauncher,
    CrashingStore,
    DynamoBackend,
    Faults,
    SqliteBackend,
)
from support.fakes import FakeLauncher
from support.harness import SETTINGS, Harness

RUN_ID = "crash-run"
FLOW = "crashflow"
RETRY_MS = 1_000  # c's min_retry_interval: the retry is started by a reconciler tick
# A restarted resolver waits out every interval the reconciler keys on (stuck claims,
# unfinished propagation, run checks, the success grace, queued runs, the run watchdog).
RECOVER_MS = (
    max(
        SETTINGS.stuck_claim_ms,
        SETTINGS.propagate_grace_ms,
        SETTINGS.check_interval_ms,
        SETTINGS.success_grace_ms,
        SETTINGS.queue_poll_ms,
        SETTINGS.run_watchdog_ms,
    )
    + 1
)
FAR = 10**13  # a "now" after every due_at
# What the world does with the signal in flight when the process died (see the module doc).
SIGNALS = ("retried", "early", "lost")


def demo_flow() -> FlowManifest:
    """``a ∥ b → c → d``; c fails its first attempt and is retried once; values flow on."""
    return flows.demo_flow(FLOW, retry_ms=RETRY_MS)


# -- the script of a life ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing the outside world does. ``callback``: the notebook of ``key``'s ``attempt``
    settles its promise, then its run ends; ``webhook``: ``key``'s run ends and Databricks
    posts the job notification; ``tick``: time passes and the scheduled reconciler runs."""

    kind: str  # publish | start | callback | webhook | tick | cancel | repair
    key: str = ""
    attempt: int = 1
    state: PromiseState = PromiseState.RESOLVED
    value: Any = None
    error: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.key}#{self.attempt}" if self.key else self.kind


FLAKY = {"type": "ValueError", "message": "flaky input"}

SUCCESS_LIFE: tuple[Step, ...] = (
    Step("publish"),
    Step("start"),
    Step("callback", "a", value={"rows": 10}),
    Step("callback", "b", value={"rows": 5}),
    Step("callback", "c", 1, PromiseState.REJECTED, error=FLAKY),
    Step("tick"),  # c's retry is due: the reconciler starts attempt 2
    Step("callback", "c", 2, value={"total": 15}),
    # d's run ends before its notify_done lands: the webhook re-reads it (runs/get) and, within
    # the success grace, leaves the settle to the callback that carries the value.
    Step("webhook", "d", value={"published": True}),
    Step("callback", "d", value={"published": True}),
)

CANCEL_LIFE: tuple[Step, ...] = (
    Step("publish"),
    Step("start"),  # a and b run
    Step("cancel"),
)


class Life:
    """One life of a run, with at most one crash (after operation ``crash_after``)."""

    def __init__(self, backend: Any, crash_after: int | None = None, signals: str = "retried") -> None:
        assert signals in SIGNALS
        self.backend = backend
        self.faults = Faults(crash_after)
        self.fake = FakeLauncher()  # the workspace: it outlives the resolver
        self.clock = FakeClock()  # wall time: it too
        self.signals = signals
        self.crashed_in: Step | None = None
        self.final_states: dict[str, str] = {}
        self.h = self.boot()

    def boot(self) -> Harness:
        """A resolver process: a new store object over the data, a new context and engine."""
        store = CrashingStore(self.backend.open(self.faults), self.faults)
        return Harness(store, CrashingLauncher(self.fake, self.faults), self.clock)

    @property
    def store(self) -> Store:
        """The data, read directly (no counting): for checks."""
        inner: Store = self.h.store.inner  # type: ignore[attr-defined]
        return inner

    def live(self, steps: Sequence[Step], *, finish: bool = True) -> None:
        """Live ``steps``, restarting after the crash; ``finish``: then let the reconciler finish."""
        i = 0
        while i < len(steps):
            try:
                self.do(steps[i])
                i += 1
            except Crash:
                self.crashed_in = steps[i]
                self.h = self.boot()  # restart
                if self.signals != "early":
                    self.recover()
                if self.signals == "lost":
                    self.lose(steps[i])
                    i += 1
                # retried, early: the same step is sent again
        if finish:
            self.recover()

    def recover(self) -> None:
        """The restarted resolver's reconciler, once every interval it waits for has passed."""
        self.clock.advance(RECOVER_MS)
        self.reconcile_until_quiet()

    def reconcile_until_quiet(self) -> None:
        for _ in range(50):
            if not self.h.engine.reconcile():
                return
        raise AssertionError("the reconciler never went quiet (50 passes)")

    # -- what the world does ---------------------------------------------------------------
    def do(self, step: Step) -> None:
        # A crash point before the first write: the request arrived and the process died at
        # once (with ``lost``, the signal is then gone before it changed anything).
        self.faults.point(f"receive {step}")
        engine = self.h.engine
        if step.kind == "publish":
            engine.publish(demo_flow())
        elif step.kind == "start":
            engine.start_run(FLOW, run_id=RUN_ID)
        elif step.kind == "callback":
            pid = task_promise_id(RUN_ID, step.key, step.attempt)
            rid = self.databricks_run(step)
            engine.settle(pid, step.state, value=step.value, error=step.error)
            self.notebook_exits(rid, step)
        elif step.kind == "webhook":
            rid = self.databricks_run(step)
            self.notebook_exits(rid, step)
            engine.on_databricks_run(rid)
        elif step.kind == "tick":
            self.clock.advance(RETRY_MS)
            self.reconcile_until_quiet()
        elif step.kind == "cancel":
            engine.stop_run(RUN_ID)
        elif step.kind == "repair":
            try:
                engine.repair_run(RUN_ID)
            except RepairConflict:
                # the operator sent it again after a crash: a 409 says the first one landed
                if getattr(self.store.get_run(RUN_ID), "repair_count", 0) == 0:
                    raise
        else:  # pragma: no cover
            raise ValueError(step.kind)

    def lose(self, step: Step) -> None:
        """The signal in flight when the process died is never sent again."""
        if step.kind == "callback":
            self.notebook_exits(self.databricks_run(step), step)  # notify_done gave up
        elif step.kind == "publish" and self.store.get_flow(FLOW) is None:
            self.do(step)  # never happened: the operator publishes again
        elif step.kind == "start" and self.store.get_run(RUN_ID) is None:
            self.do(step)  # never happened: the operator starts it again
        elif step.kind == "cancel" and not getattr(self.store.get_run(RUN_ID), "stop_reason", None):
            self.do(step)  # never recorded: the operator cancels again
        elif step.kind == "repair" and getattr(self.store.get_run(RUN_ID), "repair_count", 0) == 0:
            self.do(step)  # never recorded: the operator repairs again
        # a lost webhook or tick, a recorded cancel: the reconciler alone carries on
        self.recover()

    def databricks_run(self, step: Step) -> int:
        """The Databricks run of ``step``'s attempt: only a started notebook calls back. If it
        has not started yet, time passes (the reconciler runs) before it must have."""
        token = idempotency_token(task_promise_id(RUN_ID, step.key, step.attempt))
        if token not in self.fake.by_token:
            self.recover()
        rid = self.fake.by_token.get(token)
        if rid is None:
            pid = task_promise_id(RUN_ID, step.key, step.attempt)
            raise AssertionError(f"{step}: the engine never started a Databricks run for {pid}")
        return rid

    def notebook_exits(self, rid: int, step: Step) -> None:
        if self.fake.runs[rid].life == "TERMINATED":
            return
        if step.state is PromiseState.RESOLVED:
            self.fake.end(rid, "SUCCESS", output=step.value, at=self.clock.now())
        else:
            message = (step.error or {}).get("message", "failed")
            self.fake.end(rid, "FAILED", message=message, at=self.clock.now())

    # -- what is left ------------------------------------------------------------------------
    def report(self) -> str:
        """Everything needed to diagnose a failed crash point."""
        s = self.store
        lines = []
        c = self.faults.crashed
        if c is not None:
            lines.append(f"crash after operation {c.n}: {c.op} (in step '{self.crashed_in}')")
            lines.append(self.faults.log(around=c.n))
        run = s.get_run(RUN_ID)
        lines.append(f"run: {run}")
        for t in s.list_tasks(RUN_ID) if run else []:
            p = s.get_promise(t.promise_id) if t.promise_id else None
            lines.append(
                f"  task {t.key}: {t.state.value} attempt={t.attempt} propagated={t.propagated} "
                f"waiting={t.waiting} due_at={t.due_at} dbx={t.databricks_run_id} "
                f"promise={p.state.value if p else None}"
            )
        for rid, r in self.fake.runs.items():
            lines.append(f"  databricks run {rid}: {r.request.promise_id} {r.life}/{r.result}")
        lines.append(f"  run-now calls per token: {dict(self.fake.calls)}")
        lines.append(f"  due: {s.due(FAR, 1000)}")
        return "\n".join(lines)


def expected_promises(life: Sequence[Step]) -> set[str]:
    return {task_promise_id(RUN_ID, s.key, s.attempt) for s in life if s.kind == "callback"}


def check_success_life(life: Life) -> list[str]:
    """What every life of SUCCESS_LIFE must end with, crash or not."""
    s, fake, problems = life.store, life.fake, []
    run = s.get_run(RUN_ID)
    if run is None or run.state is not RunState.SUCCESS or run.ended_at is None:
        problems.append(f"run is {run.state.value if run else None}, not SUCCESS")
    want = {
        "a": (1, {"rows": 10}),
        "b": (1, {"rows": 5}),
        "c": (2, {"total": 15}),
        "d": (1, {"published": True}),
    }
    for key, (attempt, value) in want.items():
        t = s.get_task(RUN_ID, key)
        if t is None:
            problems.append(f"task {key} is missing")
            continue
        if t.state is not TaskState.SUCCESS or t.attempt != attempt or t.value != value:
            problems.append(f"task {key}: {t.state.value} attempt {t.attempt} value {t.value!r}")
        if not t.propagated:
            problems.append(f"task {key} was never propagated")
    promises = {pid: s.get_promise(pid) for pid in expected_promises(SUCCESS_LIFE)}
    for pid, p in promises.items():
        want_state = PromiseState.REJECTED if pid.endswith(".c.1") else PromiseState.RESOLVED
        if p is None or p.state is not want_state:
            problems.append(f"promise {pid} is {p.state.value if p else None}, not {want_state.value}")
    # Exactly one Databricks run per attempt: five attempts, five tokens, five runs.
    tokens = {idempotency_token(pid) for pid in promises}
    if fake.duplicates:
        problems.append(f"duplicate runs per token: {fake.duplicates}")
    if len(fake.runs) != 5 or set(fake.started) != tokens:
        problems.append(f"{len(fake.runs)} Databricks runs started for {sorted(fake.started)}")
    # Values passed: what each run was started with.
    for pid, want_params in (
        (f"{RUN_ID}.c.1", {"rows_a": "10", "rows_b": "5"}),
        (f"{RUN_ID}.c.2", {"rows_a": "10", "rows_b": "5"}),
        (f"{RUN_ID}.d.1", {"total": "15"}),
    ):
        rid = fake.by_token.get(idempotency_token(pid))
        got = dict(fake.runs[rid].request.parameters) if rid is not None else {}
        if {k: got.get(k) for k in want_params} != want_params:
            problems.append(f"{pid} was started with {got}")
    problems.extend(check_nothing_left(life))
    return problems


def check_nothing_left(life: Life) -> list[str]:
    s = life.store
    left = [d for d in s.due(FAR, 1000) if d.id == RUN_ID or d.id.startswith(RUN_ID + ".")]
    problems = [f"still in the due index: {left}"] if left else []
    if s.slot_holders(FLOW):
        problems.append(f"concurrency slots still held: {s.slot_holders(FLOW)}")
    return problems


def check_cancel_life(life: Life, reference: dict[str, str]) -> list[str]:
    s, fake, problems = life.store, life.fake, []
    run = s.get_run(RUN_ID)
    if run is None or run.state is not RunState.CANCELED:
        problems.append(f"run is {run.state.value if run else None}, not CANCELED")
    states = {t.key: t.state.value for t in s.list_tasks(RUN_ID)}
    if states != reference:
        problems.append(f"task states {states}, uncrashed {reference}")
    unpropagated = [t.key for t in s.list_tasks(RUN_ID) if not t.propagated]
    if unpropagated:
        problems.append(f"never propagated: {unpropagated}")
    if fake.duplicates:
        problems.append(f"duplicate runs per token: {fake.duplicates}")
    # Only a and b ever run (either may never start, if the cancel beat its claim).
    started = {fake.runs[rid].request.promise_id for rid in fake.runs}
    if not started <= {f"{RUN_ID}.a.1", f"{RUN_ID}.b.1"}:
        problems.append(f"Databricks runs started for {sorted(started)}: only a.1 and b.1 may run")
    for rid, r in fake.runs.items():
        if not r.canceled or life.faults.cancels[rid] < 1:
            problems.append(f"Databricks run {rid} ({r.request.promise_id}) was never canceled")
    problems.extend(check_nothing_left(life))
    return problems


def live_and_check(life: Life, steps: Sequence[Step], check: Any) -> None:
    try:
        life.live(steps)
    except Exception as exc:  # any failure is reported with the state it left
        pytest.fail(f"the life broke: {type(exc).__name__}: {exc}\n{life.report()}")
    if life.faults.crash_after is not None:
        assert life.faults.crashed is not None, "the crash point was never reached"
    problems = check(life)
    assert not problems, "\n".join(problems) + "\n" + life.report()


def check_cancel(life: Life) -> list[str]:
    return check_cancel_life(life, cancel_reference())


# -- the crash points, counted once on SQLite at collection ----------------------------------


def reference_life(steps: Sequence[Step]) -> Life:
    """The uncrashed life on a scratch SQLite file: its operations are the crash points."""
    with tempfile.TemporaryDirectory() as tmp:
        backend = SqliteBackend(Path(tmp) / "ref.db")
        life = Life(backend)
        life.live(steps)
        life.final_states = {t.key: t.state.value for t in life.store.list_tasks(RUN_ID)}
        backend.close()
        return life


@functools.cache
def cancel_reference() -> dict[str, str]:
    """The final task states of the uncrashed cancel."""
    return dict(reference_life(CANCEL_LIFE).final_states)


def _label(n: int, op: str) -> str:
    return f"{n:02d}-{re.sub(r'[^A-Za-z0-9_.>-]+', '_', op).strip('_')}"


SUCCESS_OPS = reference_life(SUCCESS_LIFE).faults.ops
CANCEL_OPS = reference_life(CANCEL_LIFE).faults.ops


def points(
    ops: list[str],
    signals: Sequence[str],
    default: Sequence[tuple[int, str]] | None = None,
    known: Callable[[str, str], str | None] = lambda op, signals: None,
) -> list[Any]:
    """Every (crash point, signals) pair. With ``default``, only those run by default (the rest
    are marked slow); ``known(op, signals)`` names a known defect: a strict xfail."""
    out = []
    for sig in signals:
        for n, op in enumerate(ops, 1):
            marks: list[Any] = []
            if default is not None and (n, sig) not in default:
                marks.append(pytest.mark.slow)
            reason = known(op, sig)
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            out.append(pytest.param(n, sig, id=f"{_label(n, op)}-{sig}", marks=marks))
    return out


def spread(k: int, count: int) -> list[int]:
    """``count`` crash points evenly spread over 1..k, first and last included: deterministic."""
    return sorted({1 + round(i * (k - 1) / (count - 1)) for i in range(count)})


# -- the uncrashed lives -------------------------------------------------------------------------


def test_the_uncrashed_life_succeeds_and_counts_its_crash_points(sqlite_backend: SqliteBackend) -> None:
    life = Life(sqlite_backend)
    life.live(SUCCESS_LIFE[:-1], finish=False)
    assert life.store.get_run(RUN_ID).state is RunState.RUNNING  # type: ignore[union-attr]
    life.do(SUCCESS_LIFE[-1])  # d's callback finishes the run on its own: no reconciler needed
    assert life.store.get_run(RUN_ID).state is RunState.SUCCESS  # type: ignore[union-attr]
    assert check_success_life(life) == []
    assert life.faults.ops == SUCCESS_OPS
    repair_writes = {"begin_repair", "reset_task"}  # a repair's: see the repair life below
    # An attempt's promise is created by its claim and settled with its task's finish
    # (claim_task, update_attempt): these single-record writes are left to cancels, skips and
    # standalone promises, and to records of a previous version.
    merged = {"create_promise", "update_promise", "update_task"}
    for kind in [
        *sorted(STORE_WRITES - repair_writes - merged),
        "trigger:before",
        "trigger:after",
        "get_run",
        "receive",
    ]:
        assert any(op.startswith(kind) for op in SUCCESS_OPS), f"no crash point at {kind}"


def test_the_uncrashed_cancel_cancels_every_running_attempt(sqlite_backend: SqliteBackend) -> None:
    life = Life(sqlite_backend)
    life.live(CANCEL_LIFE)
    ref = cancel_reference()
    assert ref["a"] == ref["b"] == "CANCELED" and {ref["c"], ref["d"]} <= {"CANCELED", "UPSTREAM_CANCELED"}
    assert len(life.fake.runs) == 2  # a and b were running: both canceled
    assert check_cancel(life) == []
    assert any(op.startswith("cancel(") for op in CANCEL_OPS)


def test_dynamodb_sees_the_same_operations_as_sqlite(dynamo_backend: DynamoBackend) -> None:
    """The crash points are counted on SQLite; on DynamoDB the same life makes the same calls."""
    life = Life(dynamo_backend)
    life.live(SUCCESS_LIFE)
    assert check_success_life(life) == []
    assert life.faults.ops == SUCCESS_OPS


# -- every crash point of a run that succeeds after a retry -----------------------------------


@pytest.mark.parametrize(("n", "signals"), points(SUCCESS_OPS, SIGNALS))
def test_a_crash_at_any_point_of_a_run_loses_nothing_sqlite(
    sqlite_backend: SqliteBackend, n: int, signals: str
) -> None:
    live_and_check(Life(sqlite_backend, n, signals), SUCCESS_LIFE, check_success_life)


def picks(ops: list[str], wanted: Sequence[tuple[str, str]]) -> list[tuple[int, str]]:
    """The first crash point whose operation starts with each prefix, with its signals."""
    found = []
    for prefix, sig in wanted:
        n = next((n for n, op in enumerate(ops, 1) if op.startswith(prefix)), None)
        if n is not None:
            found.append((n, sig))
    return found


# moto costs ~1.5 s a life: a few telling points run by default, every point with -m slow.
DYNAMO_DEFAULT = picks(
    SUCCESS_OPS,
    [
        (f"trigger:after({RUN_ID}.a.1)", "retried"),  # the run started, its id unrecorded
        ("deliver_edge(b->c)", "lost"),  # mid-propagation of a fan-in
        ("update_attempt(c->RETRY_WAIT)", "lost"),  # the retry is the reconciler's to start
        ("release_slot(", "retried"),  # between the slot and the run's result
    ],
)


@pytest.mark.parametrize(("n", "signals"), points(SUCCESS_OPS, ("retried", "lost"), DYNAMO_DEFAULT))
def test_a_crash_at_any_point_of_a_run_loses_nothing_dynamodb(
    dynamo_backend: DynamoBackend, n: int, signals: str
) -> None:
    live_and_check(Life(dynamo_backend, n, signals), SUCCESS_LIFE, check_success_life)


# -- every crash point of a cancel --------------------------------------------------------------


@pytest.mark.parametrize(("n", "signals"), points(CANCEL_OPS, SIGNALS))
def test_a_crash_at_any_point_of_a_cancel_loses_nothing_sqlite(
    sqlite_backend: SqliteBackend, n: int, signals: str
) -> None:
    live_and_check(Life(sqlite_backend, n, signals), CANCEL_LIFE, check_cancel)


CANCEL_IN_STOP = [n for n, op in enumerate(CANCEL_OPS, 1) if op.startswith("cancel(")]


@pytest.mark.parametrize(
    ("n", "signals"), points(CANCEL_OPS, ("retried", "lost"), [(n, "lost") for n in CANCEL_IN_STOP])
)
def test_a_crash_at_any_point_of_a_cancel_loses_nothing_dynamodb(
    dynamo_backend: DynamoBackend, n: int, signals: str
) -> None:
    live_and_check(Life(dynamo_backend, n, signals), CANCEL_LIFE, check_cancel)


# -- DynamoDB, one level down: a crash between the requests of one store call -------------------


def create_run_puts(ops: list[str]) -> dict[str, int]:
    """The crash points after each request of DynamoDB's create_run: the run item ("run"),
    then one conditional PutItem per task (the flow's history marker between them, too, is a
    crash point of the life but not one this test names)."""
    first, last = ops.index("receive start"), ops.index(f"create_run({RUN_ID})")
    puts = {}
    for n, op in enumerate(ops[first:last], first + 1):
        if op.startswith("dynamodb.put_item") and "RUNFLOWS/" not in op:
            puts["run" if op.endswith("/R)") else op.rsplit("/T#", 1)[1].rstrip(")")] = n
    assert list(puts) == ["run", "a", "b", "c", "d"], ops
    return puts


def client_ops(table: str, steps: Sequence[Step]) -> list[str]:
    """The operations of an uncrashed life counted down to each DynamoDB request."""
    life = Life(DynamoBackend(table, client_faults=True))
    life.live(steps, finish=False)
    return life.faults.ops


# DynamoStore.create_run puts the run item, then each task: a crash in between leaves a PENDING
# run with tasks missing. Admitting (or stopping) a PENDING run creates it again first, which is
# idempotent and fills the missing tasks in.
@pytest.mark.parametrize(
    ("after", "signals"),
    [
        ("run", "lost"),
        ("b", "retried"),
        pytest.param("run", "retried", marks=pytest.mark.slow),
        pytest.param("a", "retried", marks=pytest.mark.slow),
        pytest.param("c", "retried", marks=pytest.mark.slow),
        pytest.param("a", "lost", marks=pytest.mark.slow),
        pytest.param("b", "lost", marks=pytest.mark.slow),
        pytest.param("c", "lost", marks=pytest.mark.slow),
    ],
)
def test_a_crash_inside_create_run_on_dynamodb_loses_nothing(
    new_table: Any, after: str, signals: str
) -> None:
    n = create_run_puts(client_ops(new_table(), SUCCESS_LIFE[:2]))[after]
    life = Life(DynamoBackend(new_table(), client_faults=True), n, signals)
    live_and_check(life, SUCCESS_LIFE, check_success_life)


@pytest.mark.slow
@pytest.mark.parametrize("signals", ["retried", "lost"])
@pytest.mark.parametrize("steps", [SUCCESS_LIFE, CANCEL_LIFE], ids=["run", "cancel"])
def test_a_crash_after_any_dynamodb_request_loses_nothing(
    new_table: Any, steps: tuple[Step, ...], signals: str
) -> None:
    """Every DynamoDB write request is a crash point, those inside create_run included."""
    every_request(lambda: DynamoBackend(new_table(), client_faults=True), steps, signals)


def every_request(backend: Callable[[], Any], steps: tuple[Step, ...], signals: str) -> None:
    """A life crashed after each DynamoDB write request in turn, each on a new table."""
    check = check_success_life if steps is SUCCESS_LIFE else check_cancel
    ref = Life(backend())
    ref.live(steps)
    assert check(ref) == []
    failures = []
    for n, op in enumerate(ref.faults.ops, 1):
        if not op.startswith("dynamodb."):
            continue
        life = Life(backend(), n, signals)
        try:
            live_and_check(life, steps, check)
        except (AssertionError, pytest.fail.Exception) as exc:
            failures.append(f"--- {_label(n, op)}\n{exc}")
    assert not failures, "\n".join(failures)


# -- DynamoDB Local: Amazon's own engine, a plain client per resolver process, no lock ----------


class DynamoLocalBackend(DynamoBackend):
    name = "dynamodb_local"

    def __init__(self, server: Any, table: str, *, client_faults: bool = False) -> None:
        super().__init__(table, client_faults=client_faults)
        self.server = server

    def open(self, faults: Faults) -> Any:
        from lambda_resolver.stores.dynamodb import DynamoStore

        client: Any = self.server.client()
        if self.client_faults:
            client = CrashingClient(client, faults)
        return DynamoStore(self.table, client=client)


@pytest.fixture
def local_backend(dynamodb_local_server: Any) -> Iterator[Callable[..., DynamoLocalBackend]]:
    """``local_backend(client_faults=...)``: a backend over a new table on DynamoDB Local."""
    from lambda_resolver.stores.dynamodb import create_table

    client, tables = dynamodb_local_server.client(), []

    def make(*, client_faults: bool = False) -> DynamoLocalBackend:
        tables.append(f"lakehook-crash-{uuid.uuid4().hex[:12]}")
        create_table(client, tables[-1])
        return DynamoLocalBackend(dynamodb_local_server, tables[-1], client_faults=client_faults)

    yield make
    for table in tables:
        client.delete_table(TableName=table)


# By default the same telling points as on moto; every point with -m slow.
@pytest.mark.parametrize(("n", "signals"), points(SUCCESS_OPS, ("retried", "lost"), DYNAMO_DEFAULT))
def test_a_crash_at_any_point_of_a_run_loses_nothing_dynamodb_local(
    local_backend: Callable[..., DynamoLocalBackend], n: int, signals: str
) -> None:
    live_and_check(Life(local_backend(), n, signals), SUCCESS_LIFE, check_success_life)


@pytest.mark.parametrize(
    ("n", "signals"), points(CANCEL_OPS, ("retried", "lost"), [(CANCEL_IN_STOP[0], "lost")])
)
def test_a_crash_at_any_point_of_a_cancel_loses_nothing_dynamodb_local(
    local_backend: Callable[..., DynamoLocalBackend], n: int, signals: str
) -> None:
    live_and_check(Life(local_backend(), n, signals), CANCEL_LIFE, check_cancel)


@pytest.mark.parametrize(
    ("after", "signals"),
    [
        pytest.param(a, sig, marks=[] if (a, sig) == ("b", "lost") else [pytest.mark.slow])
        for a in ("run", "a", "b", "c", "d")
        for sig in ("retried", "lost")
    ],
)
def test_a_crash_inside_create_run_on_dynamodb_local_loses_nothing(
    local_backend: Callable[..., DynamoLocalBackend], after: str, signals: str
) -> None:
    """Between the requests of create_run (the run item, then each task), on the real engine."""
    ref = Life(local_backend(client_faults=True))
    ref.live(SUCCESS_LIFE[:2], finish=False)
    n = create_run_puts(ref.faults.ops)[after]
    live_and_check(Life(local_backend(client_faults=True), n, signals), SUCCESS_LIFE, check_success_life)


@pytest.mark.slow
@pytest.mark.parametrize("signals", ["retried", "lost"])
@pytest.mark.parametrize("steps", [SUCCESS_LIFE, CANCEL_LIFE], ids=["run", "cancel"])
def test_a_crash_after_any_dynamodb_local_request_loses_nothing(
    local_backend: Callable[..., DynamoLocalBackend], steps: tuple[Step, ...], signals: str
) -> None:
    every_request(lambda: local_backend(client_faults=True), steps, signals)


# -- every crash point of a repair ----------------------------------------------------------------

# c fails both its attempts (the run FAILED, d UPSTREAM_FAILED); the repair reruns c (attempt 3,
# with its retry again) and d (attempt 1); a and b keep their values and never run again.
REPAIR_LIFE: tuple[Step, ...] = (
    *SUCCESS_LIFE[:5],
    Step("tick"),
    Step("callback", "c", 2, PromiseState.REJECTED, error=FLAKY),
    Step("repair"),
    Step("callback", "c", 3, value={"total": 15}),
    Step("callback", "d", 1, value={"published": True}),
)


def check_repair_life(life: Life) -> list[str]:
    """What every life of REPAIR_LIFE must end with: no task ran twice for one attempt, no
    task that succeeded ran again, the run SUCCESS after one repair."""
    s, fake, problems = life.store, life.fake, []
    run = s.get_run(RUN_ID)
    if run is None or run.state is not RunState.SUCCESS or run.repair_count != 1:
        problems.append(f"run is {run}, not SUCCESS after one repair")
    want = {
        "a": (1, {"rows": 10}),
        "b": (1, {"rows": 5}),
        "c": (3, {"total": 15}),
        "d": (1, {"published": True}),
    }
    for key, (attempt, value) in want.items():
        t = s.get_task(RUN_ID, key)
        if t is None or (t.state, t.attempt, t.value, t.propagated) != (
            TaskState.SUCCESS,
            attempt,
            value,
            True,
        ):
            problems.append(f"task {key}: {t}")
    attempts = [("a", 1), ("b", 1), ("c", 1), ("c", 2), ("c", 3), ("d", 1)]
    tokens = {idempotency_token(task_promise_id(RUN_ID, k, n)) for k, n in attempts}
    if fake.duplicates:
        problems.append(f"duplicate runs per token: {fake.duplicates}")
    if set(fake.started) != tokens or len(fake.runs) != len(tokens):
        problems.append(f"{len(fake.runs)} Databricks runs started for {sorted(fake.started)}")
    rid = fake.by_token.get(idempotency_token(task_promise_id(RUN_ID, "d", 1)))
    if rid is None or fake.runs[rid].request.parameters.get("total") != "15":
        problems.append("d did not start with c's repaired total")
    problems.extend(check_nothing_left(life))
    return problems


REPAIR_OPS = reference_life(REPAIR_LIFE).faults.ops
REPAIR_FROM = REPAIR_OPS.index("receive repair") + 1  # the points before it are SUCCESS_LIFE's


def repair_points(signals: Sequence[str], default: Sequence[tuple[int, str]] | None = None) -> list[Any]:
    return [p for p in points(REPAIR_OPS, signals, default) if p.values[0] >= REPAIR_FROM]


def test_the_uncrashed_repair_reruns_only_what_did_not_succeed(sqlite_backend: SqliteBackend) -> None:
    life = Life(sqlite_backend)
    life.live(REPAIR_LIFE[:7], finish=False)
    assert life.store.get_run(RUN_ID).state is RunState.FAILED  # type: ignore[union-attr]
    life.live(REPAIR_LIFE[7:])
    assert check_repair_life(life) == []
    assert life.faults.ops == REPAIR_OPS
    for kind in ("begin_repair", "reset_task(c)", "reset_task(d)"):
        assert any(op.startswith(kind) for op in REPAIR_OPS[REPAIR_FROM:]), f"no crash point at {kind}"


@pytest.mark.parametrize(("n", "signals"), repair_points(SIGNALS))
def test_a_crash_at_any_point_of_a_repair_loses_nothing_sqlite(
    sqlite_backend: SqliteBackend, n: int, signals: str
) -> None:
    live_and_check(Life(sqlite_backend, n, signals), REPAIR_LIFE, check_repair_life)


REPAIR_DYNAMO_DEFAULT = picks(REPAIR_OPS, [("begin_repair(", "lost"), ("reset_task(d)", "lost")])


@pytest.mark.parametrize(("n", "signals"), repair_points(("retried", "lost"), REPAIR_DYNAMO_DEFAULT))
def test_a_crash_at_any_point_of_a_repair_loses_nothing_dynamodb(
    dynamo_backend: DynamoBackend, n: int, signals: str
) -> None:
    live_and_check(Life(dynamo_backend, n, signals), REPAIR_LIFE, check_repair_life)


@pytest.mark.parametrize(("n", "signals"), repair_points(("retried", "lost"), REPAIR_DYNAMO_DEFAULT[:1]))
def test_a_crash_at_any_point_of_a_repair_loses_nothing_dynamodb_local(
    local_backend: Callable[..., DynamoLocalBackend], n: int, signals: str
) -> None:
    live_and_check(Life(local_backend(), n, signals), REPAIR_LIFE, check_repair_life)
