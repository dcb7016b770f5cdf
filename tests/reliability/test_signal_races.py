"""Signals that race each other for one task attempt: exactly one outcome each.

Each race releases its signals together (one barrier) and is repeated many times, on SQLite with
no lock at all and on DynamoDB (moto) behind one lock (moto is not atomic: ``support.aws``). Every
repetition checks that the stored promise, the task, the flow run and the fake workspace tell one
story — the outcome of whichever signal won — and that no idempotency token started two runs.

- ``notify_done`` against the run's end learned from Databricks (webhook and reconciler at once);
- a heartbeat against the reconciler's timeout, each resolver on its own clock;
- a cancel of the flow run against the completion of its last running task;
- the retry timer against late signals of the failed attempt;
- a settle against the re-drive of a stuck claim;
- and, on one SQLite file, OS processes settling a fan-in's parents at once.

The repetition counts are the constants below (per store and per parameter).
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.clock import FakeClock
from lambda_resolver.core.errors import AlreadySettled
from lambda_resolver.core.ids import idempotency_token, task_promise_id
from lambda_resolver.core.models import Promise, PromiseState, Run, RunState, TaskState
from lambda_resolver.core.promise_machine import Verdict
from lambda_resolver.core.store import Store

from support.aws import LockedClient, moto_table
from support.flows import flow, job_task
from support.harness import SETTINGS, Harness
from support.races import RaceLauncher, at_once, settle_worker

P, T = PromiseState, TaskState
SQLITE, DYNAMODB = "sqlite", "dynamodb"

#: Repetitions of each race, per store and per parameter of the test. A repetition on moto makes
#: ~60-80 DynamoDB requests at 10-30 ms each, one at a time behind its lock, so moto runs fewer.
NOTIFY_VS_RUN_END_REPS = {SQLITE: 50, DYNAMODB: 3}  # per ending: SUCCESS, FAILED
HEARTBEAT_VS_TIMEOUT_REPS = {SQLITE: 50, DYNAMODB: 3}  # per heartbeat clock: before, at the deadline
CANCEL_VS_COMPLETION_REPS = {SQLITE: 50, DYNAMODB: 3}  # per racing task: the leaf, its upstream
RETRY_VS_LATE_SIGNALS_REPS = {SQLITE: 50, DYNAMODB: 3}
SETTLE_VS_REDRIVE_REPS = {SQLITE: 50, DYNAMODB: 3}
#: Processes (each its own SqliteStore on one file) settling a fan-in's parents at once.
PROCESS_FAN_IN_REPS = 10
PROCESS_FAN_IN_WORKERS = 4
PROCESS_FAN_IN_PARENTS = 16
#: After the barrier each signal waits a random 0..JITTER_S: 0 on SQLite (the threads interleave
#: finely), about one signal's length on moto (requests take turns behind its lock).
JITTER_S = {SQLITE: 0.0, DYNAMODB: 0.15}

FOREVER = 10**13  # ms: later than any due_at a test sets


# -- stores ----------------------------------------------------------------------------------------
@pytest.fixture(params=[SQLITE, DYNAMODB])
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    if kind == SQLITE:
        from lambda_resolver.stores.sqlite import SqliteStore

        sqlite = SqliteStore(tmp_path / "lakehook.db")
        yield sqlite
        sqlite.close()
    else:
        from lambda_resolver.stores.dynamodb import DynamoStore

        with moto_table(monkeypatch, "lakehook-signal-races") as client:
            yield DynamoStore("lakehook-signal-races", client=LockedClient(client))


class World:
    """One store and one fake workspace; any number of resolvers over them, each on its clock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.launcher = RaceLauncher()
        self.clock = FakeClock()
        self.events: list[tuple[str, dict[str, Any]]] = []  # every resolver's, in one list

    def resolver(self, clock: FakeClock | None = None) -> Harness:
        return Harness(self.store, launcher=self.launcher, clock=clock or self.clock, events=self.events)


def _token(run: Run, key: str, attempt: int = 1) -> str:
    return idempotency_token(task_promise_id(run.run_id, key, attempt))


def _events(h: Harness, name: str, run: Run, key: str | None = None, attempt: int | None = None) -> int:
    return sum(
        1
        for n, f in h.events
        if n == name
        and f.get("run_id") == run.run_id
        and (key is None or f.get("task_key") == key)
        and (attempt is None or f.get("attempt") == attempt)
    )


def _promise(h: Harness, promise_id: str | None) -> Promise:
    assert promise_id is not None
    return h.engine.get_promise(promise_id)


def _settled_and_counted(h: Harness, run: Run) -> Run:
    """The run ended at once, every task finished and propagated, the counters add up."""
    final = h.run(run)
    tasks = h.store.list_tasks(run.run_id)
    assert final.state.final, final
    assert all(t.state.terminal and t.propagated for t in tasks), tasks
    leaves = [t for t in tasks if t.key == "b"]  # every flow here is a → b: b is the one leaf
    assert final.open_leaves == 0
    assert final.failed_leaves == sum(t.state in (T.FAILED, T.TIMEDOUT, T.UPSTREAM_FAILED) for t in leaves)
    assert final.canceled_leaves == sum(t.state in (T.CANCELED, T.UPSTREAM_CANCELED) for t in leaves)
    assert _events(h, "run_finished", run) == 1
    return final


def _clean_up(h: Harness, run: Run) -> None:
    """Cancel what the race left running; then nothing of any repetition is left due, so the
    next repetition's reconciler sees only its own run."""
    h.engine.stop_run(run.run_id)
    assert h.run(run).state.final
    assert h.store.due(FOREVER) == []


def _report(name: str, kind: str, won: Counter[str]) -> None:
    print(f"\n{name} [{kind}]: {dict(sorted(won.items()))}")


# -- 1. notify_done against the run's end learned from Databricks ------------------------------------
@pytest.mark.parametrize("ending", ["SUCCESS", "FAILED"])
def test_notify_done_racing_the_run_end_from_databricks_settles_the_attempt_once(
    store: Store, kind: str, ending: str
) -> None:
    """The notebook's ``notify_done`` races the webhook for its ended run and a reconciler pass
    that polls it (``runs/get``): the first settle wins, the others answer the stored outcome."""
    w = World(store)
    h = w.resolver()
    h.publish(flow("end", [job_task("a"), job_task("b", ["a"])], max_concurrent_runs=1000))
    notebook_value, exit_value = {"by": "notify_done"}, {"by": "exit value"}
    won: Counter[str] = Counter()
    for rep in range(NOTIFY_VS_RUN_END_REPS[kind]):
        run = h.start("end", run_id=f"end-{ending.lower()}-{rep}")
        a = h.task(run, "a")
        assert a.state is T.RUNNING and a.promise_id and a.databricks_run_id
        pid, rid = a.promise_id, a.databricks_run_id
        output = exit_value if ending == "SUCCESS" else None
        w.launcher.end(rid, ending, output=output, message="the notebook raised", at=w.clock.now())
        w.clock.advance(SETTINGS.check_interval_ms)  # past the success grace; a is due for a check

        notify, hook, reconciled = at_once(
            partial(h.engine.settle, pid, P.RESOLVED, value=notebook_value),
            partial(h.engine.on_databricks_run, rid),
            h.engine.reconcile,
            jitter_s=JITTER_S[kind],
            seed=rep,
        )

        p = _promise(h, pid)
        assert reconciled.ok and "errors" not in (reconciled.value or {}), reconciled
        assert hook.ok and hook.value == p  # the webhook answers the stored outcome
        if p.state is P.RESOLVED and p.value == notebook_value:
            won["notify_done"] += 1
            assert notify.value is not None and notify.value.verdict is Verdict.APPLY
        else:
            won["run end"] += 1
            assert isinstance(notify.error, AlreadySettled), notify  # 409 to the notebook
            assert notify.error.details["promise"]["state"] == p.state.value
            if ending == "SUCCESS":
                assert (p.state, p.value) == (P.RESOLVED, exit_value)
            else:
                assert p.state is P.REJECTED and p.error and p.error["type"] == "DatabricksRunFailed"
        # the task tells the promise's story
        ta, tb = h.task(run, "a"), h.task(run, "b")
        assert ta.state is (T.SUCCESS if p.state is P.RESOLVED else T.FAILED)
        assert (ta.attempt, ta.value, ta.error, ta.propagated) == (1, p.value, p.error, True)
        assert _events(h, "task_finished", run, "a") == 1
        # the downstream starts once on success, never on failure; nothing is canceled
        if p.state is P.RESOLVED:
            assert tb.state is T.RUNNING and tb.attempt == 1
            assert _events(h, "task_claimed", run, "b") == 1
            assert w.launcher.calls[_token(run, "b")] == 1
            assert h.run(run).state is RunState.RUNNING
        else:
            assert tb.state is T.UPSTREAM_FAILED and w.launcher.calls[_token(run, "b")] == 0
            assert _settled_and_counted(h, run).state is RunState.FAILED
        assert w.launcher.cancel_calls[rid] == 0
        _clean_up(h, run)
    assert w.launcher.duplicates == {}
    _report(f"notify_done vs run end {ending}", kind, won)


# -- 2. a heartbeat against the timeout ---------------------------------------------------------------
@pytest.mark.parametrize("heartbeat_clock", ["1 ms before the deadline", "at the deadline"])
def test_heartbeat_racing_the_timeout_has_exactly_one_outcome(
    store: Store, kind: str, heartbeat_clock: str
) -> None:
    """Two resolvers: one takes the notebook's heartbeat (its clock just before, or at, the
    deadline), the other runs the reconciler at the deadline. Either the heartbeat moved the
    deadline out (200) and the task keeps running, or the promise timed out, the heartbeat
    answers 409 with the timed-out promise, and the Databricks run is canceled — never both."""
    w = World(store)
    h = w.resolver()
    h.publish(flow("hb", [job_task("a", timeout_seconds=60), job_task("b", ["a"])], max_concurrent_runs=1000))
    won: Counter[str] = Counter()
    for rep in range(HEARTBEAT_VS_TIMEOUT_REPS[kind]):
        run = h.start("hb", run_id=f"hb-{heartbeat_clock[0]}-{rep}")
        a = h.task(run, "a")
        assert a.promise_id and a.databricks_run_id
        pid, rid = a.promise_id, a.databricks_run_id
        deadline = _promise(h, pid).timeout_at
        skew = 1 if heartbeat_clock.startswith("1 ms") else 0
        notebook_side = w.resolver(FakeClock(deadline - skew))
        reconciler = w.resolver(FakeClock(deadline))

        beat, reconciled = at_once(
            partial(notebook_side.engine.heartbeat, pid),
            reconciler.engine.reconcile,
            jitter_s=JITTER_S[kind],
            seed=rep,
        )

        assert reconciled.ok and "errors" not in (reconciled.value or {}), reconciled
        p = _promise(h, pid)
        ta, tb = h.task(run, "a"), h.task(run, "b")
        if beat.ok:
            seen = "/".join(sorted(k for k in reconciled.value or {} if k != "watched"))
            won[f"heartbeat (reconciler: {seen})"] += 1
            assert beat.value is not None and p.state is P.PENDING
            assert p.timeout_at == beat.value.timeout_at > deadline  # what the heartbeat answered holds
            assert "timed_out" not in (reconciled.value or {}), reconciled
            assert (ta.state, tb.state) == (T.RUNNING, T.WAITING)
            assert w.launcher.cancel_calls[rid] == 0 and h.run(run).state is RunState.RUNNING
            # and the reconciler, again at the deadline, finds nothing to time out
            assert "timed_out" not in reconciler.engine.reconcile()
            assert _promise(h, pid).state is P.PENDING
        else:
            won["timeout"] += 1
            assert isinstance(beat.error, AlreadySettled), beat  # 409, with the timed-out promise
            assert beat.error.details["promise"]["state"] == P.REJECTED_TIMEDOUT.value
            assert p.state is P.REJECTED_TIMEDOUT and p.timeout_at == deadline
            assert (ta.state, tb.state) == (T.TIMEDOUT, T.UPSTREAM_FAILED)
            assert w.launcher.stopped[rid] == 1 and w.launcher.cancel_calls[rid] >= 1
            assert w.launcher.calls[_token(run, "b")] == 0
            assert _settled_and_counted(h, run).state is RunState.FAILED
        _clean_up(h, run)
    assert w.launcher.duplicates == {}
    if skew == 0:
        assert won == {"timeout": HEARTBEAT_VS_TIMEOUT_REPS[kind]}  # at the deadline it is too late
    _report(f"heartbeat ({heartbeat_clock}) vs timeout", kind, won)


# -- 3. cancel against the completion of the last running task ---------------------------------------
@pytest.mark.parametrize("racing", ["b", "a"], ids=["the-leaf", "its-upstream"])
def test_cancel_racing_the_completion_of_the_last_running_task(store: Store, kind: str, racing: str) -> None:
    """``a → b``; the task racing the cancel is the only one running: the leaf ``b`` (its success
    would finish the run) or ``a`` (its success would start ``b``). The run ends at once in one
    final state; once the cancel won, nothing downstream starts; a started run is stopped."""
    w = World(store)
    h = w.resolver()
    h.publish(flow("cx", [job_task("a"), job_task("b", ["a"])], max_concurrent_runs=1000))
    won: Counter[str] = Counter()
    for rep in range(CANCEL_VS_COMPLETION_REPS[kind]):
        run = h.start("cx", run_id=f"cx-{racing}-{rep}")
        if racing == "b":
            h.succeed(run, "a", value="a")
        t = h.task(run, racing)
        assert t.state is T.RUNNING and t.promise_id and t.databricks_run_id
        pid, rid = t.promise_id, t.databricks_run_id

        done, stop = at_once(
            partial(h.engine.settle, pid, P.RESOLVED, value=rep),
            partial(h.engine.stop_run, run.run_id),
            jitter_s=JITTER_S[kind],
            seed=rep,
        )

        assert stop.ok and stop.value is not None
        final = _settled_and_counted(h, run)  # at once: no reconciler pass in between
        if stop.value.state.final:  # the cancel's answer, when final, is the run's end
            assert stop.value.state is final.state
        else:
            assert stop.value.stop_reason == "CANCELED"  # accepted; the other signal finishes it
        p, raced = _promise(h, pid), h.task(run, racing)
        if done.ok:
            assert p.state is P.RESOLVED and p.value == rep and raced.state is T.SUCCESS
            assert w.launcher.cancel_calls[rid] == 0
        else:
            assert isinstance(done.error, AlreadySettled), done  # the notebook hears 409
            assert p.state is P.REJECTED_CANCELED and raced.state is T.CANCELED
            assert w.launcher.stopped[rid] == 1
        b = h.task(run, "b")
        if racing == "b":
            if final.state is RunState.SUCCESS:
                won["settle, run SUCCESS"] += 1
                # The completion decided the run before the cancel's write landed: the cancel
                # answered RUNNING (accepted) or SUCCESS, and the record keeps no stop_reason.
                assert done.ok and final.stop_reason is None
            else:
                won["cancel" if not done.ok else "settle, run CANCELED"] += 1
                assert final.state is RunState.CANCELED and final.stop_reason == "CANCELED"
        else:
            assert final.state is RunState.CANCELED
            assert b.state in (T.CANCELED, T.UPSTREAM_CANCELED)
            started_b = w.launcher.for_token(_token(run, "b"))
            if not done.ok:
                won["cancel"] += 1
                assert started_b is None and _events(h, "task_claimed", run, "b") == 0  # nothing starts
            elif started_b is None:
                won["settle, b never started"] += 1
            else:
                won["settle, b started and stopped"] += 1
                assert _promise(h, b.promise_id).state is P.REJECTED_CANCELED
                assert w.launcher.stopped[started_b.run_id] == 1
        _clean_up(h, run)
    assert w.launcher.duplicates == {}
    assert max(w.launcher.stopped.values(), default=0) <= 1
    _report(f"cancel vs completion of {racing}", kind, won)
    print(f"cancel calls per stopped run: {dict(Counter(w.launcher.cancel_calls.values()))}")


# -- 4. the retry timer against late signals of the failed attempt ----------------------------------
def test_retry_timer_racing_late_signals_of_the_failed_attempt_starts_one_retry(
    store: Store, kind: str
) -> None:
    """Attempt 1 failed; its retry is due. The reconciler starts attempt 2 while the notebook's
    ``notify_failed`` arrives again, a late ``notify_done`` for attempt 1 arrives, and the webhook
    for attempt 1's run arrives: one attempt 2, one run for its token, attempt 1 unchanged."""
    w = World(store)
    h = w.resolver()
    a_spec = job_task("a", max_retries=1, min_retry_interval_ms=1000)
    h.publish(flow("rt", [a_spec, job_task("b", ["a"])], max_concurrent_runs=1000))
    error = {"type": "ValueError", "message": "boom"}
    run_now: Counter[int] = Counter()  # run-now calls for attempt 2 → repetitions
    for rep in range(RETRY_VS_LATE_SIGNALS_REPS[kind]):
        run = h.start("rt", run_id=f"rt-{rep}")
        a1 = h.task(run, "a")
        assert a1.promise_id and a1.databricks_run_id
        pid1, rid1 = a1.promise_id, a1.databricks_run_id
        h.engine.settle(pid1, P.REJECTED, error=error)
        w.launcher.end(rid1, "FAILED", message="boom", at=w.clock.now())
        assert h.task(run, "a").state is T.RETRY_WAIT
        w.clock.advance(1000)

        reconciled, again, late, hook = at_once(
            h.engine.reconcile,
            partial(h.engine.settle, pid1, P.REJECTED, error=error),
            partial(h.engine.settle, pid1, P.RESOLVED, value="late"),
            partial(h.engine.on_databricks_run, rid1),
            jitter_s=JITTER_S[kind],
            seed=rep,
        )

        assert reconciled.ok and "errors" not in (reconciled.value or {}), reconciled
        assert again.value is not None and again.value.verdict is Verdict.DUPLICATE  # 200, unchanged
        assert isinstance(late.error, AlreadySettled), late  # 409
        p1 = _promise(h, pid1)
        assert (p1.state, p1.error) == (P.REJECTED, error) and hook.value == p1
        a = h.task(run, "a")
        assert (a.state, a.attempt, a.promise_id) == (T.RUNNING, 2, task_promise_id(run.run_id, "a", 2))
        assert _promise(h, a.promise_id).state is P.PENDING
        assert _events(h, "task_claimed", run, "a", attempt=2) == 1
        assert _events(h, "task_claimed", run, "a", attempt=3) == 0
        # One run for attempt 2's token. Every signal that finds the claim TRIGGERING drives it,
        # run-now included: the idempotency token is what keeps that to one run (invariant 1).
        assert w.launcher.started[_token(run, "a", 2)] == 1 and w.launcher.started[_token(run, "a", 1)] == 1
        run_now[w.launcher.calls[_token(run, "a", 2)]] += 1
        assert h.task(run, "b").state is T.WAITING and w.launcher.calls[_token(run, "b")] == 0
        assert w.launcher.cancel_calls[rid1] == 0
        _clean_up(h, run)
    assert w.launcher.duplicates == {}
    print(f"\nretry vs late signals [{kind}]: run-now calls for attempt 2 → repetitions: {dict(run_now)}")


# -- 5. a settle against the re-drive of a stuck claim ------------------------------------------------
def test_settle_racing_the_stuck_claim_redrive_keeps_one_run_per_token(store: Store, kind: str) -> None:
    """``a``'s run-now started the run but its answer was lost: ``a`` is a claim stuck in
    TRIGGERING while its notebook runs. The reconciler re-drives the claim (run-now again, same
    idempotency token) as the notebook's ``notify_done`` arrives: one run, the settle stands,
    ``b`` starts once."""
    w = World(store)
    h = w.resolver()
    h.publish(flow("sc", [job_task("a"), job_task("b", ["a"])], max_concurrent_runs=1000))
    won: Counter[str] = Counter()
    for rep in range(SETTLE_VS_REDRIVE_REPS[kind]):
        run_id = f"sc-{rep}"
        token_a = idempotency_token(task_promise_id(run_id, "a", 1))
        w.launcher.start_then_fail.add(token_a)
        run = h.start("sc", run_id=run_id)
        a = h.task(run, "a")
        started = w.launcher.for_token(token_a)
        assert a.state is T.TRIGGERING and a.promise_id and started is not None
        pid = a.promise_id
        w.clock.advance(SETTINGS.stuck_claim_ms)

        reconciled, done = at_once(
            h.engine.reconcile,
            partial(h.engine.settle, pid, P.RESOLVED, value=rep),
            jitter_s=JITTER_S[kind],
            seed=rep,
        )

        assert reconciled.ok and "errors" not in (reconciled.value or {}), reconciled
        assert done.value is not None and done.value.verdict is Verdict.APPLY  # 200 to the notebook
        p, a = _promise(h, pid), h.task(run, "a")
        assert (p.state, p.value) == (P.RESOLVED, rep)
        assert (a.state, a.attempt, a.value, a.propagated) == (T.SUCCESS, 1, rep, True)
        assert p.databricks_run_id in (None, started.run_id)
        assert a.databricks_run_id in (None, started.run_id)
        assert w.launcher.started[token_a] == 1  # one run for the token, however often asked
        won["re-drive first" if w.launcher.calls[token_a] == 2 else "settle first"] += 1
        assert _events(h, "task_claimed", run, "b") == 1 and w.launcher.calls[_token(run, "b")] == 1
        assert h.task(run, "b").state is T.RUNNING
        assert w.launcher.cancel_calls[started.run_id] == 0
        _clean_up(h, run)
    assert w.launcher.duplicates == {}
    _report("settle vs stuck-claim re-drive", kind, won)


# -- 6. processes on one SQLite file ---------------------------------------------------------------------
def test_processes_settling_a_fan_in_at_once_start_the_child_once(tmp_path: Path) -> None:
    """The cross-process guarantee: OS processes, each with its own SqliteStore on the same
    file and its own launcher, settle the parents of a fan-in at once (all of them, in different
    orders). The child is claimed once and run-now is called for it once, by one process, in
    every repetition."""
    from lambda_resolver.stores.sqlite import SqliteStore

    db = tmp_path / "lakehook.db"
    store = SqliteStore(db)
    h = Harness(store)
    n, workers = PROCESS_FAN_IN_PARENTS, PROCESS_FAN_IN_WORKERS
    parents = [job_task(f"p{i}") for i in range(n)]
    h.publish(flow("fan", [*parents, job_task("child", [p.key for p in parents])], max_concurrent_runs=1000))
    runs = [h.start("fan", run_id=f"proc-{rep}") for rep in range(PROCESS_FAN_IN_REPS)]
    promises = [[task_promise_id(r.run_id, f"p{i}", 1) for i in range(n)] for r in runs]
    # Every process settles every parent, each starting at its own quarter: each parent is
    # settled once and repeated by the others while it propagates, so several processes find
    # the child ready at once and race for its claim.
    shares = [[ps[k * n // workers :] + ps[: k * n // workers] for ps in promises] for k in range(workers)]
    mp = multiprocessing.get_context("spawn")
    barrier, results = mp.Barrier(workers), mp.Queue()
    procs = [
        mp.Process(target=settle_worker, args=(str(db), shares[k], barrier, results, k))
        for k in range(workers)
    ]
    started = time.monotonic()
    for proc in procs:
        proc.start()
    reports: list[tuple[int, dict[str, int], list[dict[str, Any]], str | None]] = []
    try:
        for _ in procs:
            reports.append(results.get(timeout=120))
    except queue.Empty:
        pytest.fail(f"only {len(reports)} of {workers} processes reported")
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    assert [r[3] for r in reports] == [None] * workers, reports
    print(f"\n{workers} processes x {PROCESS_FAN_IN_REPS} fan-ins: {time.monotonic() - started:.1f} s")

    triggering: Counter[str] = Counter()
    for run in runs:
        token = _token(run, "child")
        callers = [k for k, calls, _, _ in reports if calls.get(token)]
        claims = [c for _, _, cs, _ in reports for c in cs if c["run_id"] == run.run_id]
        assert len(callers) == 1 and sum(r[1].get(token, 0) for r in reports) == 1, (run.run_id, callers)
        assert [c["task_key"] for c in claims] == ["child"], claims
        triggering[f"process {callers[0]}"] += 1
        child = h.task(run, "child")
        assert (child.state, child.attempt, child.waiting) == (T.RUNNING, 1, 0)
        assert len(child.deps) == n and set(child.deps.values()) == {"ok"}
        assert all(
            t.state is T.SUCCESS and t.propagated for t in store.list_tasks(run.run_id) if t.key != "child"
        )
        assert h.launcher.calls[token] == 0  # the parent process never triggered it
    print(f"child triggered by: {dict(triggering)}")
    store.close()
