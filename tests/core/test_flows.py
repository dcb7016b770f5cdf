"""Flow runs through the engine: ordering, values, run_if, conditions, retries, cancel, limits."""

from __future__ import annotations

import pytest

from lambda_resolver.core.errors import BadRequest, ConcurrencyLimit, RunConflict, UnknownFlow
from lambda_resolver.core.ids import idempotency_token
from lambda_resolver.core.models import RunState, TaskState

from support.flows import condition_task, external_task, flow, job_task
from support.harness import Harness

DEMO = flow(
    "nightly",
    [
        job_task("extract_a", params={"run_date": "{{job.parameters.run_date}}"}),
        job_task("extract_b"),
        job_task(
            "combine",
            ["extract_a", "extract_b"],
            params={
                "rows_a": "{{tasks.extract_a.values.rows}}",
                "all_b": "{{tasks.extract_b.value}}",
                "state_a": "{{tasks.extract_a.result_state}}",
                "run": "{{job.run_id}}",
            },
        ),
        job_task("report", ["combine"]),
    ],
    params={"run_date": ""},
)


def test_the_demo_shape_runs_a_and_b_then_c_then_d_passing_values(h: Harness) -> None:
    h.publish(DEMO)
    run = h.start("nightly", run_id="r-1", params={"run_date": "2026-11-23"})
    assert h.states(run) == {
        "extract_a": "RUNNING",
        "extract_b": "RUNNING",
        "combine": "WAITING",
        "report": "WAITING",
    }
    assert h.params_of(run, "extract_a")["run_date"] == "2026-11-23"
    h.succeed(run, "extract_a", {"rows": 10})
    assert h.task(run, "combine").state is TaskState.WAITING  # still waits for extract_b
    h.succeed(run, "extract_b", ["x", 1])
    params = h.params_of(run, "combine")
    assert params["rows_a"] == "10" and params["all_b"] == '["x",1]'
    assert params["state_a"] == "success" and params["run"] == "r-1"
    assert params["lakehook"].startswith("lh1.")
    h.succeed(run, "combine", {"total": 11})
    h.succeed(run, "report", "done")
    final = h.run(run)
    assert final.state is RunState.SUCCESS and final.ended_at is not None
    assert h.launcher.duplicates == {}
    assert len(h.launcher.runs) == 4


def test_each_attempt_carries_its_own_idempotency_token_derived_from_its_promise(h: Harness) -> None:
    h.publish(DEMO)
    run = h.start("nightly", run_id="r-1")
    t = h.task(run, "extract_a")
    request = h.launcher.run_for(t.promise_id or "").request
    assert request.idempotency_token == idempotency_token("r-1.extract_a.1")
    assert len(request.idempotency_token) <= 64


def test_a_failure_marks_dependents_upstream_failed_and_fails_the_run(h: Harness) -> None:
    h.publish(flow("f", [job_task("a"), job_task("b", ["a"]), job_task("c", ["b"])]))
    run = h.start("f")
    h.fail(run, "a")
    assert h.states(run) == {"a": "FAILED", "b": "UPSTREAM_FAILED", "c": "UPSTREAM_FAILED"}
    assert h.run(run).state is RunState.FAILED
    assert len(h.launcher.runs) == 1


def test_a_cleanup_task_with_all_done_runs_after_a_failure(h: Harness) -> None:
    h.publish(flow("f", [job_task("a"), job_task("b", ["a"]), job_task("cleanup", ["b"], run_if="ALL_DONE")]))
    run = h.start("f")
    h.fail(run, "a")
    assert h.states(run)["cleanup"] == "RUNNING"
    h.succeed(run, "cleanup")
    # every leaf succeeded but a task failed
    assert h.run(run).state is RunState.SUCCESS_WITH_FAILURES


def test_an_on_failure_task_is_excluded_when_nothing_failed(h: Harness) -> None:
    h.publish(flow("f", [job_task("a"), job_task("alert", ["a"], run_if="AT_LEAST_ONE_FAILED")]))
    run = h.start("f")
    h.succeed(run, "a")
    assert h.states(run) == {"a": "SUCCESS", "alert": "EXCLUDED"}
    assert h.run(run).state is RunState.SUCCESS


def test_a_condition_task_takes_one_branch_and_excludes_the_other(h: Harness) -> None:
    h.publish(
        flow(
            "f",
            [
                job_task("validate"),
                condition_task(
                    "check", ["validate"], "GREATER_THAN_OR_EQUAL", "{{tasks.validate.values.auc}}", "0.9"
                ),
                job_task("deploy", [("check", "true")]),
                job_task("notify_bad", [("check", "false")]),
                job_task("after_deploy", ["deploy"]),
            ],
        )
    )
    good = h.start("f", run_id="good")
    h.succeed(good, "validate", {"auc": 0.93})
    assert h.task(good, "check").outcome == "true"
    assert h.states(good) == {
        "validate": "SUCCESS",
        "check": "SUCCESS",
        "deploy": "RUNNING",
        "notify_bad": "EXCLUDED",
        "after_deploy": "WAITING",
    }
    h.succeed(good, "deploy")
    h.succeed(good, "after_deploy")
    assert h.run(good).state is RunState.SUCCESS
    bad = h.start("f", run_id="bad")
    h.succeed(bad, "validate", {"auc": 0.5})
    assert h.states(bad) == {
        "validate": "SUCCESS",
        "check": "SUCCESS",
        "deploy": "EXCLUDED",
        "notify_bad": "RUNNING",
        "after_deploy": "EXCLUDED",
    }
    h.succeed(bad, "notify_bad")
    assert h.run(bad).state is RunState.SUCCESS


def test_a_condition_on_a_missing_value_fails_with_a_message_that_names_it(h: Harness) -> None:
    h.publish(
        flow("f", [job_task("v"), condition_task("check", ["v"], "EQUAL_TO", "{{tasks.v.values.ok}}", "yes")])
    )
    run = h.start("f")
    h.succeed(run, "v", {"other": 1})
    check = h.task(run, "check")
    assert check.state is TaskState.FAILED
    assert check.error is not None and "{{tasks.v.values.ok}}" in check.error["message"]


def test_a_failed_attempt_is_retried_after_its_interval_with_a_new_token(h: Harness) -> None:
    h.publish(flow("f", [job_task("a", max_retries=1, min_retry_interval_ms=60_000)]))
    run = h.start("f")
    first = h.task(run, "a")
    h.fail(run, "a")
    assert h.task(run, "a").state is TaskState.RETRY_WAIT
    assert h.advance(30_000) == {} and h.task(run, "a").state is TaskState.RETRY_WAIT
    h.advance(30_000)
    second = h.task(run, "a")
    assert (second.state, second.attempt) == (TaskState.RUNNING, 2)
    assert second.promise_id != first.promise_id
    h.fail(run, "a")
    assert h.task(run, "a").state is TaskState.FAILED  # retries exhausted
    assert h.run(run).state is RunState.FAILED
    assert len(h.launcher.runs) == 2 and h.launcher.duplicates == {}


def test_a_retry_without_interval_starts_at_once(h: Harness) -> None:
    h.publish(flow("f", [job_task("a", max_retries=2)]))
    run = h.start("f")
    h.fail(run, "a")
    assert (h.task(run, "a").state, h.task(run, "a").attempt) == (TaskState.RUNNING, 2)
    h.succeed(run, "a")
    assert h.run(run).state is RunState.SUCCESS


def test_an_external_task_waits_for_an_outside_settle(h: Harness) -> None:
    h.publish(
        flow("f", [job_task("train"), external_task("approve", ["train"]), job_task("deploy", ["approve"])])
    )
    run = h.start("f")
    h.succeed(run, "train")
    assert h.states(run)["approve"] == "RUNNING"
    assert len(h.launcher.runs) == 1  # nothing started for the approval
    h.advance(60_000)
    assert h.states(run)["approve"] == "RUNNING"
    h.succeed(run, "approve", {"by": "ana"})
    assert h.states(run)["deploy"] == "RUNNING"


def test_starting_twice_with_one_run_id_returns_the_first_run(h: Harness) -> None:
    h.publish(DEMO)
    first, created = h.engine.start_run("nightly", run_id="r-1", params={"run_date": "x"})
    again, created_again = h.engine.start_run("nightly", run_id="r-1", params={"run_date": "x"})
    assert created and not created_again and again.run_id == first.run_id
    assert len(h.launcher.runs) == 2
    with pytest.raises(RunConflict, match="already exists"):
        h.engine.start_run("nightly", run_id="r-1", params={"run_date": "other"})


def test_bad_starts_say_what_to_fix(h: Harness) -> None:
    h.publish(DEMO)
    with pytest.raises(UnknownFlow, match="known flows: nightly"):
        h.engine.start_run("nope")
    with pytest.raises(BadRequest, match="no parameter"):
        h.engine.start_run("nightly", params={"bogus": "1"})
    with pytest.raises(BadRequest, match="run_id"):
        h.engine.start_run("nightly", run_id="has space")


def test_canceling_a_run_cancels_running_attempts_and_skips_the_rest(h: Harness) -> None:
    h.publish(DEMO)
    run = h.start("nightly")
    h.succeed(run, "extract_a", {"rows": 1})
    b = h.task(run, "extract_b")
    stopped = h.engine.stop_run(run.run_id)
    assert stopped.state is RunState.CANCELED
    assert h.states(run) == {
        "extract_a": "SUCCESS",
        "extract_b": "CANCELED",
        "combine": "CANCELED",
        "report": "CANCELED",
    }
    assert h.launcher.runs[b.databricks_run_id or 0].canceled
    assert h.engine.stop_run(run.run_id).state is RunState.CANCELED  # again: a no-op


def test_a_late_callback_after_cancel_conflicts(h: Harness) -> None:
    from lambda_resolver.core.errors import AlreadySettled
    from lambda_resolver.core.models import PromiseState

    h.publish(DEMO)
    run = h.start("nightly")
    a = h.task(run, "extract_a")
    h.engine.stop_run(run.run_id)
    with pytest.raises(AlreadySettled):
        h.engine.settle(a.promise_id or "", PromiseState.RESOLVED, value=1)


def test_max_concurrent_runs_refuses_a_second_run_without_a_queue(h: Harness) -> None:
    h.publish(flow("f", [job_task("a")], max_concurrent_runs=1))
    first = h.start("f")
    with pytest.raises(ConcurrencyLimit, match="max_concurrent_runs"):
        h.start("f")
    h.succeed(first, "a")
    assert h.start("f").state is RunState.RUNNING  # the slot is free again


def test_a_queued_run_starts_when_a_slot_frees(h: Harness) -> None:
    h.publish(flow("f", [job_task("a")], max_concurrent_runs=1, queue=True))
    first = h.start("f", run_id="first")
    second = h.start("f", run_id="second")
    assert second.state is RunState.PENDING and h.states(second) == {"a": "WAITING"}
    h.succeed(first, "a")
    h.advance(5_000)
    assert h.run(second).state is RunState.RUNNING and h.states(second) == {"a": "RUNNING"}


def test_a_flow_timeout_times_the_run_out(h: Harness) -> None:
    h.publish(flow("f", [job_task("a"), job_task("b", ["a"])], timeout_seconds=120))
    run = h.start("f")
    a = h.task(run, "a")
    h.advance(121_000)
    assert h.run(run).state is RunState.TIMEDOUT
    assert h.states(run) == {"a": "TIMEDOUT", "b": "CANCELED"}
    assert h.launcher.runs[a.databricks_run_id or 0].canceled


def test_a_job_without_an_id_fails_its_task_saying_to_publish(h: Harness) -> None:
    h.publish(flow("f", [job_task("a")], job_ids=False))
    run = h.start("f")
    a = h.task(run, "a")
    assert a.state is TaskState.FAILED
    assert a.error is not None and "lakehook publish" in a.error["message"]
