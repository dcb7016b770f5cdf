"""for_each tasks on the engine: one attempt per iteration, ``concurrency`` at a time, Databricks'
result rule, retries per iteration, upstream values as inputs, cancel, and exactly once."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from lambda_resolver.core.ids import idempotency_token
from lambda_resolver.core.iterations import iteration_promise_id
from lambda_resolver.core.models import PromiseState, Run

from support.flows import flow, for_each_task, job_task
from support.harness import Harness


def running(h: Harness) -> list[str]:
    """Promise ids of the iteration runs started and not ended, in start order."""
    out = []
    for r in h.launcher.runs.values():
        p = h.store.get_promise(r.request.promise_id)
        if p is not None and p.iteration is not None and p.state is PromiseState.PENDING:
            out.append(p.id)
    return out


def settle(h: Harness, pid: str, state: PromiseState = PromiseState.RESOLVED, value: Any = None) -> None:
    error = None if state is PromiseState.RESOLVED else {"type": "Error", "message": "boom"}
    h.engine.settle(pid, state, value=value, error=error)


def start(h: Harness, inputs: list[Any], **kw: Any) -> Run:
    h.publish(flow("loop", [for_each_task("fe", json.dumps(inputs), **kw), job_task("after", ["fe"])]))
    return h.start("loop")


def test_every_input_runs_once_with_its_input_substituted(h: Harness) -> None:
    run = start(h, ["a", {"x": 1}, 7], concurrency=3)
    ids = running(h)
    assert ids == [iteration_promise_id(run.run_id, "fe", 1, n) for n in range(3)]
    assert [h.launcher.run_for(pid).request.parameters["item"] for pid in ids] == ["a", '{"x":1}', "7"]
    assert [h.launcher.run_for(pid).request.idempotency_token for pid in ids] == [
        idempotency_token(pid) for pid in ids
    ]
    for pid in ids:
        settle(h, pid, value={"ok": pid})
    assert h.states(run) == {"fe": "SUCCESS", "after": "RUNNING"}
    assert h.task(run, "fe").value is None


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([PromiseState.RESOLVED] * 3, "SUCCESS"),
        ([PromiseState.RESOLVED, PromiseState.REJECTED, PromiseState.RESOLVED], "FAILED"),
        ([PromiseState.REJECTED] * 3, "FAILED"),
        ([PromiseState.RESOLVED, PromiseState.REJECTED_CANCELED, PromiseState.RESOLVED], "FAILED"),
    ],
)
def test_the_result_follows_databricks_rule(h: Harness, outcomes: list[PromiseState], expected: str) -> None:
    run = start(h, [1, 2, 3], concurrency=3)
    for pid, state in zip(running(h), outcomes, strict=True):
        settle(h, pid, state)
    fe = h.task(run, "fe")
    assert fe.state.value == expected
    if expected == "FAILED":
        assert fe.error is not None and "iterations did not succeed" in fe.error["message"]
        assert h.states(run)["after"] == "UPSTREAM_FAILED"


def test_a_timed_out_iteration_fails_the_loop_and_its_run_is_canceled(h: Harness) -> None:
    run = start(h, [1, 2], concurrency=2, timeout_seconds=60)
    first, second = running(h)
    settle(h, first)
    h.advance(61_000)
    assert h.task(run, "fe").state.value == "FAILED"
    assert h.launcher.run_for(second).canceled
    assert h.store.get_promise(second).state is PromiseState.REJECTED_TIMEDOUT  # type: ignore[union-attr]


def test_no_inputs_succeed_at_once(h: Harness) -> None:
    run = start(h, [])
    assert h.states(run) == {"fe": "SUCCESS", "after": "RUNNING"}
    assert [r.request.job_key for r in h.launcher.runs.values()] == ["job_after"]


def test_never_more_than_concurrency_iterations_run(h: Harness) -> None:
    rng = random.Random(7)  # noqa: S311 - test order, not secrets
    run = start(h, list(range(25)), concurrency=4)
    seen: set[str] = set()
    while True:
        active = running(h)
        assert len(active) <= 4
        if not active:
            break
        seen.update(active)
        settle(h, rng.choice(active))
    assert len(seen) == 25
    assert h.task(run, "fe").state.value == "SUCCESS"


def test_an_iteration_retries_by_the_nested_policy_with_a_new_promise(h: Harness) -> None:
    run = start(h, ["x", "y"], concurrency=2, max_retries=1, min_retry_interval_ms=1000)
    first, second = running(h)
    settle(h, first, PromiseState.REJECTED)
    assert running(h) == [second]  # the retry waits its interval
    h.advance(1000)
    retry = iteration_promise_id(run.run_id, "fe", 1, 0, 2)
    assert retry == f"{first}.2"
    assert running(h) == [second, retry]
    assert h.launcher.run_for(retry).request.parameters["item"] == "x"
    settle(h, retry)
    settle(h, second)
    assert h.task(run, "fe").state.value == "SUCCESS"
    it = h.store.get_iteration(run.run_id, "fe", 1, 0)
    assert it is not None and it.tries == 2 and it.state.value == "SUCCESS"


def test_inputs_can_come_from_an_upstream_value(h: Harness) -> None:
    h.publish(
        flow(
            "up",
            [
                job_task("list"),
                for_each_task(
                    "fe",
                    "{{tasks.list.values.tables}}",
                    ["list"],
                    concurrency=2,
                    params={"t": "{{input.name}}"},
                ),
            ],
        )
    )
    run = h.start("up")
    h.succeed(run, "list", {"tables": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    ids = running(h)
    assert [h.launcher.run_for(pid).request.parameters["t"] for pid in ids] == ["a", "b"]
    for _ in range(3):
        settle(h, running(h)[0])
    assert h.task(run, "fe").state.value == "SUCCESS"


def test_an_upstream_value_that_is_not_an_array_fails_the_task_once(h: Harness) -> None:
    h.publish(flow("bad", [job_task("list"), for_each_task("fe", "{{tasks.list.value}}", ["list"])]))
    run = h.start("bad")
    h.succeed(run, "list", {"tables": "nope"})
    fe = h.task(run, "fe")
    assert fe.state.value == "FAILED" and "JSON array" in fe.error["message"]  # type: ignore[index]


def test_cancel_stops_running_iterations_and_claims_no_more(h: Harness) -> None:
    run = start(h, list(range(10)), concurrency=3)
    active = running(h)
    h.engine.stop_run(run.run_id)
    assert all(h.launcher.run_for(pid).canceled for pid in active)
    assert h.task(run, "fe").state.value == "CANCELED"
    assert running(h) == []
    assert len(h.launcher.runs) == 3
    loop = h.store.get_loop(run.run_id, "fe", 1)
    assert loop is not None and loop.stopped and loop.counts() == {"total": 10, "PENDING": 7, "CANCELED": 3}


def test_duplicate_and_late_settles_count_an_iteration_once(h: Harness) -> None:
    run = start(h, [1, 2], concurrency=2)
    first, second = running(h)
    settle(h, first, value=1)
    settle(h, first, value=1)  # the webhook or a retrying notebook
    h.engine.reconciler.run_once(h.engine)
    loop = h.store.get_loop(run.run_id, "fe", 1)
    assert loop is not None and loop.counts() == {"total": 2, "RUNNING": 1, "SUCCESS": 1}
    settle(h, second, value=2)
    assert h.task(run, "fe").state.value == "SUCCESS"


def test_an_iteration_promise_is_found_by_its_databricks_run(h: Harness) -> None:
    run = start(h, ["a"])
    (pid,) = running(h)
    dbx = h.launcher.run_for(pid).run_id
    h.launcher.end(dbx, "FAILED", message="notebook raised")
    h.engine.on_databricks_run(dbx)
    assert h.task(run, "fe").state.value == "FAILED"
    it = h.store.get_iteration(run.run_id, "fe", 1, 0)
    assert it is not None and it.databricks_run_id == dbx and it.state.value == "FAILED"


def test_500_inputs_at_concurrency_20_run_every_input_exactly_once(h: Harness) -> None:
    inputs = [f"table_{n}" for n in range(500)]
    run = start(h, inputs, concurrency=20)
    rng = random.Random(500)  # noqa: S311 - test order, not secrets
    items: list[str] = []
    while active := running(h):
        assert len(active) <= 20
        pid = rng.choice(active)
        items.append(h.launcher.run_for(pid).request.parameters["item"])
        settle(h, pid, value={"n": pid})
        if rng.random() < 0.1:
            settle(h, pid, value={"n": pid})  # a duplicate now and then
    assert sorted(items) == sorted(inputs)
    assert not h.launcher.duplicates
    assert len(h.launcher.started) == 501  # 500 iterations and the task after the loop
    assert h.task(run, "fe").state.value == "SUCCESS"
    loop = h.store.get_loop(run.run_id, "fe", 1)
    assert loop is not None and loop.counts() == {"total": 500, "SUCCESS": 500}


def test_a_repair_reruns_a_failed_loop_whole_with_new_ids(h: Harness) -> None:
    run = start(h, ["a", "b"], concurrency=2)
    first, second = running(h)
    settle(h, first)
    settle(h, second, PromiseState.REJECTED)
    assert h.run(run).state.value == "FAILED"
    h.engine.repair_run(run.run_id)
    fe = h.task(run, "fe")
    assert (fe.state.value, fe.attempt) == ("RUNNING", 2)
    again = running(h)
    assert again == [iteration_promise_id(run.run_id, "fe", 2, n) for n in range(2)]
    assert [h.launcher.run_for(pid).request.parameters["item"] for pid in again] == ["a", "b"]
    for pid in again:
        settle(h, pid)
    assert h.task(run, "fe").state.value == "SUCCESS"
    loop = h.store.get_loop(run.run_id, "fe", 1)
    assert loop is not None and loop.counts() == {"total": 2, "SUCCESS": 1, "FAILED": 1}  # kept as it ended


def test_the_loops_own_timeout_cancels_its_running_iterations(h: Harness) -> None:
    loop_task = for_each_task("fe", json.dumps([1, 2, 3]), concurrency=2)._replace(timeout_seconds=30)
    h.publish(flow("slow", [loop_task]))
    run = h.start("slow")
    active = running(h)
    assert len(active) == 2
    h.advance(31_000)
    assert h.task(run, "fe").state.value == "TIMEDOUT"
    assert all(h.launcher.run_for(pid).canceled for pid in active)
    assert running(h) == [] and len(h.launcher.runs) == 2
    loop = h.store.get_loop(run.run_id, "fe", 1)
    assert loop is not None and loop.stopped and loop.counts() == {"total": 3, "PENDING": 1, "CANCELED": 2}


def test_an_iteration_that_cannot_start_fails_without_spending_retries(h: Harness) -> None:
    inputs = json.dumps([{"name": "a"}, {"other": 1}])
    h.publish(
        flow(
            "named",
            [for_each_task("fe", inputs, params={"t": "{{input.name}}"}, concurrency=2, max_retries=3)],
        )
    )
    run = h.start("named")
    (pid,) = running(h)
    assert h.launcher.run_for(pid).request.parameters["t"] == "a"
    it = h.store.get_iteration(run.run_id, "fe", 1, 1)
    assert it is not None and (it.state.value, it.tries) == ("FAILED", 1)
    assert it.error is not None and "has no field 'name'" in it.error["message"]
    settle(h, pid)
    assert h.task(run, "fe").state.value == "FAILED"


def test_a_run_now_databricks_refuses_fails_the_iteration_without_retries(h: Harness) -> None:
    from lambda_resolver.core.errors import LaunchError

    h.launcher.fail_next.append(LaunchError("job parameter 'item' is not declared", permanent=True))
    run = start(h, ["a", "b"], concurrency=1, max_retries=3)
    it = h.store.get_iteration(run.run_id, "fe", 1, 0)
    assert it is not None and (it.state.value, it.tries) == ("FAILED", 1)
    (pid,) = running(h)  # the next input took the freed slot
    settle(h, pid)
    assert h.task(run, "fe").state.value == "FAILED"
    assert h.launcher.calls[idempotency_token(iteration_promise_id(run.run_id, "fe", 1, 0))] == 1


def test_an_operator_settling_the_loop_task_stops_its_iterations(h: Harness) -> None:
    """The for_each task's own promise resolved from outside (a human in the loop) ends the task
    as any settle would — and, the loop having nothing left to wait for, cancels the iterations
    still running and claims no more."""
    run = start(h, [1, 2, 3, 4], concurrency=2)
    first, second = running(h)
    fe = h.task(run, "fe")
    assert fe.promise_id is not None
    h.engine.settle(fe.promise_id, PromiseState.RESOLVED, value={"by": "operator"})
    assert h.states(run) == {"fe": "SUCCESS", "after": "RUNNING"}
    assert h.launcher.run_for(first).canceled and h.launcher.run_for(second).canceled
    assert running(h) == []
    assert len(h.launcher.runs) == 2 + 1  # nothing claimed after the settle; "after" started
