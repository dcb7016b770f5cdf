"""A flaky Databricks: the real SdkLauncher (databricks-sdk) against the loopback workspace, whose
``faults`` answer 429 with Retry-After, 503, 500, slow answers and dropped connections — before
the request is handled (``drop``) and after (``drop_after``: the run was created, its answer
lost) — on ``run-now``, ``runs/get`` and ``runs/get-output``.

The flow is the demo's shape (``support.faults_flow``): ``a ∥ b → c → d``, c failing its first
attempt and retried once, every task settled by the reconciler from ``runs/get`` and
``runs/get-output`` (the notebooks never call back), so every fault lands on a call the engine
makes. The engine runs on a real store with a clock the test moves; the SDK's retry waits are
skipped (its budget still counts, in virtual seconds), so a whole flow takes a fraction of a
second. After every life: the run is SUCCESS with the values of a clean run, and the workspace
started exactly one run per attempt's idempotency token — none lost, none twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.ids import idempotency_token
from lambda_resolver.core.manifest import FlowManifest, TaskSpec
from lambda_resolver.core.models import PromiseState, RunState, TaskState
from lambda_resolver.local import Fault
from lambda_resolver.stores.sqlite import SqliteStore

from support import aws as support_aws
from support.faults_flow import (
    FLAKY,
    ROUTES,
    FaultStack,
    assert_demo_succeeded,
    build_stack,
    close_stack,
    demo_flow,
    poll,
)
from support.flows import condition_task, job_task
from support.harness import SETTINGS

# Retried by the SDK: 429 and 503 (Retry-After 0 keeps even real waits short), dropped connections
# and slow answers. Not retried by the SDK: 500 — the engine's reconciler retries it.
KINDS: dict[str, Fault] = {
    "429": Fault.http(429, retry_after=0),
    "503": Fault.http(503, retry_after=0),
    "500": Fault.http(500),
    "slow": Fault.delay(30),
    "drop": Fault.drop(),
    "drop_after": Fault.drop_after(),
}
PASS = Fault.delay(0)  # a request answered normally: spaces faults out in a route's queue
# 503s asking for 7 s each (the SDK waits 7-8 s): the third in a row spends the 20 s budget of a call.
OUTAGE = Fault.http(503, retry_after=7)


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., FaultStack]]:
    stacks: list[FaultStack] = []

    def make(**kw: Any) -> FaultStack:
        store = SqliteStore(tmp_path / f"lakehook-{len(stacks)}.db")
        s = build_stack(store, **kw)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        close_stack(s)
        s.store.close()  # type: ignore[attr-defined]


# -- one fault kind at a time -----------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_fault_kind_on_every_route_still_runs_the_flow_once(
    make_stack: Callable[..., FaultStack], kind: str
) -> None:
    s = make_stack()
    fault = KINDS[kind]
    # the first two requests of each route, then one more after a normal one
    for route in ROUTES:
        s.ws.faults.add(route, fault, times=2)
        s.ws.faults.add(route, PASS)
        s.ws.faults.add(route, fault)
    s.start("r-kind")
    s.drive("r-kind")
    assert_demo_succeeded(s, "r-kind")
    for route in ROUTES:
        assert s.ws.faults.applied[route] >= 4, (route, s.ws.faults.applied)  # every fault was served
    if kind == "drop_after":
        # the answer to run-now was lost after the run was created: the SDK sent it again and the
        # token answered with the run already started
        assert max(s.ws.api.run_now_calls.values()) >= 2
    if kind == "500":
        assert s.stats["reconcile_errors"] >= 1  # a runs/get 500 is not retried by the SDK


def test_a_slow_run_now_answer_past_the_http_timeout_is_sent_again_into_the_same_run(
    make_stack: Callable[..., FaultStack],
) -> None:
    s = make_stack(http_timeout_s=0.3)
    s.ws.faults.add("jobs/run-now", Fault.delay(600))  # a's run-now: the client gives up, re-sends
    run = s.start("r-slow")
    token = idempotency_token(s.h.task(run, "a").promise_id or "")
    assert s.ws.runs_per_token()[token] == 1  # the re-send started the run...
    # ...and the abandoned request, handled last, answers (to nobody) with that same run
    poll(lambda: s.ws.api.run_now_calls[token] == 2, what="the abandoned run-now")
    assert s.ws.runs_per_token()[token] == 1
    s.drive("r-slow")
    assert_demo_succeeded(s, "r-slow")


# -- outlasting the SDK's retry budget -----------------------------------------------------------
def test_a_run_now_whose_answer_is_lost_past_the_retry_budget_is_re_driven_into_the_same_run(
    make_stack: Callable[..., FaultStack],
) -> None:
    s = make_stack()
    # a's run-now creates the run, its answer is lost, and every re-send meets a 503 until the
    # SDK's 20 s budget is spent: the launch fails transiently with the run started.
    s.ws.faults.add("jobs/run-now", Fault.drop_after())
    s.ws.faults.add("jobs/run-now", OUTAGE, times=4)
    run = s.start("r-budget")
    a = s.h.task(run, "a")
    assert a.state is TaskState.TRIGGERING and a.databricks_run_id is None
    token = idempotency_token(a.promise_id or "")
    assert s.ws.runs_per_token()[token] == 1  # Databricks did start it
    assert s.h.task(run, "b").state is TaskState.RUNNING

    # Not before the claim counts as stuck...
    s.quiesce()
    s.h.advance(SETTINGS.stuck_claim_ms - 1)
    assert s.h.task(run, "a").state is TaskState.TRIGGERING
    # ...then the reconciler asks again with the same token and gets that run.
    counts = s.h.advance(1)
    assert counts.get("relaunched") == 1
    a = s.h.task(run, "a")
    assert a.state in (TaskState.RUNNING, TaskState.SUCCESS)
    assert s.ws.run(a.databricks_run_id or 0).idempotency_token == token
    s.drive("r-budget")
    assert_demo_succeeded(s, "r-budget")
    # a's lost answer and 3 refused re-sends, b's one 503, then the reconciler's re-send: two of
    # a's requests reached the run-now handler
    assert s.ws.faults.applied["jobs/run-now"] == 5
    assert s.ws.api.run_now_calls[token] == 2


def test_a_run_now_that_never_reached_databricks_is_started_by_the_reconciler(
    make_stack: Callable[..., FaultStack],
) -> None:
    s = make_stack()
    s.ws.faults.add("jobs/run-now", OUTAGE, times=5)  # a's launch gives up
    s.ws.faults.add("jobs/run-now", Fault.http(500), times=2)  # b's launch and a's re-drive fail too
    run = s.start("r-never")
    a = s.h.task(run, "a")
    b = s.h.task(run, "b")
    assert (a.state, b.state) == (TaskState.TRIGGERING, TaskState.TRIGGERING)
    assert not s.ws.runs()  # nothing started
    s.drive("r-never")
    assert_demo_succeeded(s, "r-never")


@pytest.mark.parametrize("route", ["jobs/runs/get", "jobs/runs/get-output"])
def test_a_read_outage_past_the_retry_budget_is_checked_again_by_the_reconciler(
    make_stack: Callable[..., FaultStack], route: str
) -> None:
    s = make_stack()
    s.ws.faults.add(route, OUTAGE, times=9)  # two reads give up
    s.start("r-read")
    s.drive("r-read")
    assert_demo_succeeded(s, "r-read")
    assert s.stats["reconcile_errors"] >= 2
    assert s.ws.faults.applied[route] == 9


@pytest.mark.parametrize("fault", [Fault.http(500), Fault.http(400, message="Run 1 does not exist.")])
def test_a_runs_get_that_keeps_failing_is_read_once_per_check_interval_not_once_per_pass(
    make_stack: Callable[..., FaultStack], fault: Fault
) -> None:
    s = make_stack()
    s.start("r-storm")
    s.quiesce()  # a and b ran; each is due for its check
    s.ws.faults.add("jobs/runs/get", fault, times=None)
    for _ in range(3):
        # one scheduled reconciler invocation: passes until nothing is due (the Lambda loops too)
        before = s.ws.requests["jobs/runs/get"]
        counts = s.h.advance(SETTINGS.check_interval_ms)
        assert counts.get("errors") == 2
        assert s.ws.requests["jobs/runs/get"] - before == 2  # once per running task, then it waits
        assert s.h.states("r-storm") == {"a": "RUNNING", "b": "RUNNING", "c": "WAITING", "d": "WAITING"}
    s.ws.faults.clear("jobs/runs/get")
    s.drive("r-storm")
    assert_demo_succeeded(s, "r-storm")


def test_a_standalone_promise_whose_runs_get_keeps_failing_is_read_once_per_check_interval(
    make_stack: Callable[..., FaultStack],
) -> None:
    s = make_stack()
    p, _ = s.h.engine.standalone.create("order-1", timeout_s=600, job={"job_id": 1})  # job_a's notebook
    assert p.databricks_run_id is not None
    s.quiesce()
    s.ws.faults.add("jobs/runs/get", Fault.http(503, retry_after=30), times=None)  # past the budget
    for _ in range(3):
        before = s.ws.requests["jobs/runs/get"]
        assert s.h.advance(SETTINGS.check_interval_ms).get("errors") == 1
        assert 1 <= s.ws.requests["jobs/runs/get"] - before <= 2  # one read (and the SDK's one retry)
    s.ws.faults.clear("jobs/runs/get")
    s.h.advance(SETTINGS.check_interval_ms)
    done = s.h.engine.get_promise("order-1")
    assert (done.state, done.value) == (PromiseState.RESOLVED, {"rows": 10})
    assert s.ws.runs_per_token() == {idempotency_token("order-1"): 1}


# -- a permanent error ----------------------------------------------------------------------------
def test_a_job_deleted_between_publish_and_trigger_fails_its_task_naming_the_job(
    make_stack: Callable[..., FaultStack],
) -> None:
    s = make_stack()
    s.h.launcher.inner.client().jobs.delete(3)  # job_c, the retried task's job: `databricks jobs delete`
    s.start("r-deleted")
    run = s.drive("r-deleted")
    assert run.state is RunState.FAILED
    assert s.h.states("r-deleted") == {"a": "SUCCESS", "b": "SUCCESS", "c": "FAILED", "d": "UPSTREAM_FAILED"}
    c = s.h.task("r-deleted", "c")
    assert c.error is not None
    message = c.error["message"]
    assert "job 'job_c' (id 3)" in message and "Job 3 does not exist" in message, message
    assert s.h.task("r-deleted", "d").attempt == 0  # d never started
    # No retry storm: Databricks refused the request as wrong, so it is asked once — c's retry
    # (max_retries 1) is not spent on a job that does not exist.
    assert c.attempt == 1
    assert s.ws.requests["jobs/run-now"] == 3  # a, b and c's one refused attempt
    assert len(s.ws.runs()) == 2


def unlimited(name: str, c: TaskSpec) -> FlowManifest:
    """The demo flow with ``c`` replaced, retried without limit and without a wait."""
    base = demo_flow(name)
    c = c._replace(max_retries=-1, min_retry_interval_ms=0)
    return replace(base, tasks=tuple(c if t.key == "c" else t for t in base.tasks))


FAILS_THE_SAME_EVERY_TIME = {
    # Databricks refuses the run-now: the job was deleted
    "deleted_job": (unlimited("deleted", demo_flow().task("c")), "LaunchError", "Job 3 does not exist"),
    # a reference to a value the upstream task did not set
    "bad_reference": (
        unlimited("reference", job_task("c", ["a", "b"], params={"rows_a": "{{tasks.a.values.nope}}"})),
        "ReferenceError",
        "nope",
    ),
    # a condition on an operand that is not a number
    "bad_condition": (
        unlimited(
            "condition", condition_task("c", ["a", "b"], "GREATER_THAN", "ten", "{{tasks.b.values.rows}}")
        ),
        "ConditionError",
        "'ten' is not a number",
    ),
}


@pytest.mark.parametrize("case", list(FAILS_THE_SAME_EVERY_TIME))
def test_a_failure_every_retry_would_repeat_fails_the_task_at_once_even_with_unlimited_retries(
    make_stack: Callable[..., FaultStack], case: str
) -> None:
    manifest, kind, detail = FAILS_THE_SAME_EVERY_TIME[case]
    s = make_stack()
    s.h.publish(manifest)
    if case == "deleted_job":
        s.ws.delete_job(3)
    s.start(f"r-{case}", manifest.name)
    run = s.drive(f"r-{case}")  # before the fix: a RetryStorm (one start looped on run-now)
    assert run.state is RunState.FAILED
    assert s.h.states(run) == {"a": "SUCCESS", "b": "SUCCESS", "c": "FAILED", "d": "UPSTREAM_FAILED"}
    c = s.h.task(run, "c")
    assert c.attempt == 1 and c.error is not None
    assert c.error["type"] == kind and detail in c.error["message"], c.error
    assert s.ws.requests["jobs/run-now"] == 2 + (case == "deleted_job")


# -- randomized schedules -----------------------------------------------------------------------
SEEDS = range(25)


def schedule(rng: random.Random) -> dict[str, list[tuple[str, Fault]]]:
    """Per route, a queue of (name, fault): faults at random positions among normal answers,
    sometimes an outage that outlasts one call's retry budget."""
    plan: dict[str, list[tuple[str, Fault]]] = {}
    for route in ROUTES:
        queue: list[tuple[str, Fault]] = []
        for _ in range(rng.randint(1, 5)):
            queue += [("pass", PASS)] * rng.randint(0, 4)
            if rng.random() < 0.15:
                queue += [("outage", OUTAGE)] * 4
            else:
                name = rng.choice(list(KINDS))
                queue += [(name, KINDS[name])] * rng.randint(1, 3)
        plan[route] = queue
    return plan


@pytest.mark.parametrize("seed", SEEDS)
def test_random_fault_schedules_keep_one_run_per_token_and_lose_nothing(
    make_stack: Callable[..., FaultStack], seed: int
) -> None:
    s = make_stack()
    plan = schedule(random.Random(seed))  # noqa: S311 - a seeded schedule, not a secret
    for route, queue in plan.items():
        for _, fault in queue:
            s.ws.faults.add(route, fault)
    run_id = f"r-seed-{seed}"
    s.start(run_id)
    s.drive(run_id)
    assert_demo_succeeded(s, run_id)
    served = {
        route: sum(1 for name, _ in queue[: s.ws.faults.applied[route]] if name != "pass")
        for route, queue in plan.items()
    }
    print(
        f"seed {seed}: faults served {served}, run-now requests {s.ws.requests['jobs/run-now']}, "
        f"runs {len(s.ws.runs())}, ticks {s.stats['ticks']}, reconcile errors {s.stats['reconcile_errors']}"
    )
    assert sum(served.values()) >= 1


# -- the same on DynamoDB (moto) ------------------------------------------------------------------
def test_every_fault_kind_at_once_on_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from lambda_resolver.stores.dynamodb import DynamoStore

    with support_aws.moto_table(monkeypatch, "lakehook-faults"):
        client = support_aws.LockedClient(boto3.client("dynamodb", region_name="us-east-1"))
        s = build_stack(DynamoStore("lakehook-faults", client=client))
        try:
            for route in ROUTES:
                for fault in KINDS.values():
                    s.ws.faults.add(route, fault)
                    s.ws.faults.add(route, PASS)
            s.ws.faults.add("jobs/run-now", OUTAGE, times=4)
            s.start("r-dynamo")
            s.drive("r-dynamo")
            assert_demo_succeeded(s, "r-dynamo")
        finally:
            close_stack(s)


def test_the_retried_attempt_failed_with_the_notebooks_error(make_stack: Callable[..., FaultStack]) -> None:
    """The clean life the faulted ones are compared with: c's first run failed, and its promise
    carries the run's message (the notebook's exception is in runs/get-output's error)."""
    s = make_stack()
    s.start("r-clean")
    s.drive("r-clean")
    assert_demo_succeeded(s, "r-clean")
    first = s.h.engine.get_promise("r-clean.c.1")
    assert first.error is not None and first.databricks_run_id is not None
    assert first.error["message"] == s.ws.run(first.databricks_run_id).message
    assert s.ws.run(first.databricks_run_id).task().error == FLAKY
    assert s.ws.requests["jobs/run-now"] == 5 and len(s.ws.runs()) == 5
