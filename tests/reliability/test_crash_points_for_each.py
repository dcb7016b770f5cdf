"""Invariant 6 for for_each tasks: a crash after any store write or Databricks call of a loop —
between an iteration's claim and its run-now, between its settle and its count, between the last
count and the loop's own settle — loses nothing and starts no iteration twice.

The lives and their three ways of carrying on (``retried``, ``early``, ``lost``) are those of
``test_crash_points.py``; here the flow is ``list → fe → after``, where ``fe`` loops over the
value ``list`` returns, two at a time, and its nested task retries once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from reliability.test_crash_points import (
    FLAKY,
    FLOW,
    RETRY_MS,
    RUN_ID,
    SIGNALS,
    Life,
    Step,
    live_and_check,
    picks,
    points,
)

from lambda_resolver.core.ids import idempotency_token
from lambda_resolver.core.iterations import iteration_promise_id
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import PromiseState, RunState, TaskState

from support import flows
from support.crash import LOOP_WRITES, CrashingLauncher, CrashingStore, DynamoBackend, SqliteBackend
from support.harness import SETTINGS, Harness

ITEMS = ["x", "y", "z"]


def loop_flow() -> FlowManifest:
    return flows.flow(
        FLOW,
        [
            flows.job_task("list"),
            flows.for_each_task(
                "fe",
                "{{tasks.list.values.items}}",
                ["list"],
                concurrency=2,
                max_retries=1,
                min_retry_interval_ms=RETRY_MS,
            ),
            flows.job_task("after", ["fe"]),
        ],
    )


def iteration(index: int, tries: int = 1, state: PromiseState = PromiseState.RESOLVED) -> Step:
    """The notebook of ``fe``'s iteration ``index`` (its try ``tries``) calls back."""
    error = FLAKY if state is not PromiseState.RESOLVED else None
    value = None if error else {"item": ITEMS[index]}
    return Step("iteration", f"fe#{index}", tries, state, value=value, error=error)


def iteration_pid(step: Step) -> str:
    index = int(step.key.split("#")[1])
    return iteration_promise_id(RUN_ID, "fe", 1, index, step.attempt)


LOOP_LIFE: tuple[Step, ...] = (
    Step("publish"),
    Step("start"),
    Step("callback", "list", value={"items": ITEMS}),  # claims iterations 0 and 1
    iteration(0, 1, PromiseState.REJECTED),  # retried after RETRY_MS; keeps its slot
    iteration(1),  # frees a slot: iteration 2 is claimed
    Step("tick"),  # iteration 0's retry is due
    iteration(2),
    iteration(0, 2),  # the last one: fe succeeds, after starts
    Step("callback", "after", value={"done": True}),
)

CANCEL_LIFE: tuple[Step, ...] = (
    Step("publish"),
    Step("start"),
    Step("callback", "list", value={"items": ITEMS}),
    Step("cancel"),
)


class LoopLife(Life):
    """A life of the loop flow: iteration callbacks settle iteration promises. Its iterations
    launch one after the other, so every life makes its calls in the same order."""

    def boot(self) -> Harness:
        store = CrashingStore(self.backend.open(self.faults), self.faults)
        settings = SETTINGS._replace(fanout_workers=1)
        return Harness(store, CrashingLauncher(self.fake, self.faults), self.clock, settings)

    def do(self, step: Step) -> None:
        if step.kind == "publish":
            self.faults.point(f"receive {step}")
            self.h.engine.publish(loop_flow())
        elif step.kind == "iteration":
            self.faults.point(f"receive {step}")
            rid = self.databricks_run(step)
            self.h.engine.settle(iteration_pid(step), step.state, value=step.value, error=step.error)
            self.notebook_exits(rid, step)
        else:
            super().do(step)

    def lose(self, step: Step) -> None:
        if step.kind == "iteration":
            self.notebook_exits(self.databricks_run(step), step)  # notify_done gave up
            self.recover()
        else:
            super().lose(step)

    def databricks_run(self, step: Step) -> int:
        if step.kind != "iteration":
            return super().databricks_run(step)
        token = idempotency_token(iteration_pid(step))
        if token not in self.fake.by_token:
            self.recover()
        rid = self.fake.by_token.get(token)
        if rid is None:
            raise AssertionError(
                f"{step}: the engine never started a Databricks run for {iteration_pid(step)}"
            )
        return rid


def check_loop_life(life: Life) -> list[str]:
    s, fake, problems = life.store, life.fake, []
    run = s.get_run(RUN_ID)
    if run is None or run.state is not RunState.SUCCESS:
        problems.append(f"run is {run.state.value if run else None}, not SUCCESS")
    for key in ("list", "fe", "after"):
        t = s.get_task(RUN_ID, key)
        if t is None or t.state is not TaskState.SUCCESS or not t.propagated:
            problems.append(f"task {key}: {t}")
    loop = s.get_loop(RUN_ID, "fe", 1)
    if loop is None or loop.counts() != {"total": 3, "SUCCESS": 3}:
        problems.append(f"loop: {loop.counts() if loop else None}")
    tries = [st for st in LOOP_LIFE if st.kind == "iteration"]
    for st in tries:
        pid, item = iteration_pid(st), ITEMS[int(st.key.split("#")[1])]
        rid = fake.by_token.get(idempotency_token(pid))
        if rid is None or fake.runs[rid].request.parameters.get("item") != item:
            problems.append(f"{pid}: run {rid} started with the wrong input (want {item!r})")
    if fake.duplicates:
        problems.append(f"duplicate runs per token: {fake.duplicates}")
    if len(fake.runs) != 2 + len(tries):  # list, after, and one run per iteration try
        problems.append(
            f"{len(fake.runs)} Databricks runs for {sorted(r.request.promise_id for r in fake.runs.values())}"
        )
    left = [d for d in s.due(10**13, 1000) if d.id == RUN_ID or d.id.startswith(RUN_ID + ".")]
    if left:
        problems.append(f"still in the due index: {left}")
    return problems


def check_loop_cancel(life: Life) -> list[str]:
    s, fake, problems = life.store, life.fake, []
    run = s.get_run(RUN_ID)
    if run is None or run.state is not RunState.CANCELED:
        problems.append(f"run is {run.state.value if run else None}, not CANCELED")
    fe = s.get_task(RUN_ID, "fe")
    if fe is None or fe.state not in (TaskState.CANCELED, TaskState.UPSTREAM_CANCELED):
        problems.append(f"fe is {fe.state.value if fe else None}")
    if fake.duplicates:
        problems.append(f"duplicate runs per token: {fake.duplicates}")
    for rid, r in fake.runs.items():
        if r.request.promise_id.startswith(f"{RUN_ID}.fe.") and not r.canceled:
            problems.append(f"iteration run {rid} ({r.request.promise_id}) was never canceled")
    started = [
        r.request.promise_id for r in fake.runs.values() if r.request.promise_id.startswith(f"{RUN_ID}.fe.")
    ]
    if len(started) > 2:
        problems.append(f"more iterations started than the concurrency allows: {started}")
    left = [d for d in s.due(10**13, 1000) if d.id == RUN_ID or d.id.startswith(RUN_ID + ".")]
    if left:
        problems.append(f"still in the due index: {left}")
    return problems


def reference_ops(steps: Sequence[Step]) -> list[str]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        backend = SqliteBackend(Path(tmp) / "ref.db")
        life = LoopLife(backend)
        life.live(steps)
        backend.close()
        return life.faults.ops


LOOP_OPS = reference_ops(LOOP_LIFE)
CANCEL_OPS = reference_ops(CANCEL_LIFE)


def test_the_uncrashed_loop_succeeds_and_has_a_crash_point_at_every_loop_write(
    sqlite_backend: SqliteBackend,
) -> None:
    life = LoopLife(sqlite_backend)
    life.live(LOOP_LIFE)
    assert check_loop_life(life) == []
    assert life.faults.ops == LOOP_OPS
    for kind in sorted(LOOP_WRITES - {"stop_loop"}):
        assert any(op.startswith(kind) for op in LOOP_OPS), f"no crash point at {kind}"
    assert any(op.startswith("stop_loop") for op in CANCEL_OPS)
    assert any(op.startswith(f"trigger:after({RUN_ID}.fe.1.0.2)") for op in LOOP_OPS)  # a retry's run-now


def test_a_canceled_loop_cancels_its_running_iterations(sqlite_backend: SqliteBackend) -> None:
    life = LoopLife(sqlite_backend)
    life.live(CANCEL_LIFE)
    assert check_loop_cancel(life) == []
    assert sum(1 for r in life.fake.runs.values() if ".fe." in r.request.promise_id) == 2


@pytest.mark.parametrize(("n", "signals"), points(LOOP_OPS, SIGNALS))
def test_a_crash_at_any_point_of_a_loop_loses_nothing(
    sqlite_backend: SqliteBackend, n: int, signals: str
) -> None:
    live_and_check(LoopLife(sqlite_backend, n, signals), LOOP_LIFE, check_loop_life)


@pytest.mark.parametrize(("n", "signals"), points(CANCEL_OPS, SIGNALS))
def test_a_crash_at_any_point_of_a_loop_cancel_loses_nothing(
    sqlite_backend: SqliteBackend, n: int, signals: str
) -> None:
    live_and_check(LoopLife(sqlite_backend, n, signals), CANCEL_LIFE, check_loop_cancel)


def test_dynamodb_sees_the_same_loop_operations_as_sqlite(dynamo_backend: DynamoBackend) -> None:
    life = LoopLife(dynamo_backend)
    life.live(LOOP_LIFE)
    assert check_loop_life(life) == []
    assert life.faults.ops == LOOP_OPS


# moto costs about a second a life: a few telling points by default, every point under -m slow.
DYNAMO_DEFAULT = picks(
    LOOP_OPS,
    [
        ("claim_iteration(fe#0)", "lost"),  # claimed, its run-now never sent
        (f"trigger:after({RUN_ID}.fe.1.0)", "retried"),  # the run started, its id unrecorded
        ("finish_iteration(fe#0+retry)", "lost"),  # the retry is the reconciler's to start
        ("finish_iteration(fe#1)", "retried"),  # counted, the next iteration not claimed yet
        (f"update_promise({RUN_ID}.fe.1->RESOLVED)", "lost"),  # the loop settled, its task not moved
    ],
)


@pytest.mark.parametrize(("n", "signals"), points(LOOP_OPS, ("retried", "lost"), DYNAMO_DEFAULT))
def test_a_crash_at_any_point_of_a_loop_loses_nothing_dynamodb(
    dynamo_backend: DynamoBackend, n: int, signals: str
) -> None:
    live_and_check(LoopLife(dynamo_backend, n, signals), LOOP_LIFE, check_loop_life)
