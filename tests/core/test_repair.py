"""Repairing a run that ended, as Databricks' "Repair run" does (DESIGN §9)."""

from __future__ import annotations

from collections import Counter

import pytest

from lambda_resolver.core.errors import BadRequest, RepairConflict
from lambda_resolver.core.ids import idempotency_token
from lambda_resolver.core.models import Run, RunState

from support.flows import condition_task, flow, job_task
from support.harness import Harness


def runs_per_job(h: Harness) -> Counter[str]:
    """Databricks runs started, by job: what a repair must (not) start again."""
    return Counter(r.request.job_key for r in h.launcher.runs.values())


def chain(h: Harness) -> Run:
    """``a → b → c``; b fails: the run FAILED, c UPSTREAM_FAILED."""
    h.publish(
        flow(
            "chain",
            [
                job_task("a"),
                job_task("b", ["a"], params={"rows": "{{tasks.a.values.rows}}"}),
                job_task("c", ["b"]),
            ],
        )
    )
    run = h.start("chain", run_id="r")
    h.succeed(run, "a", {"rows": 7})
    h.fail(run, "b")
    assert h.states(run) == {"a": "SUCCESS", "b": "FAILED", "c": "UPSTREAM_FAILED"}
    assert h.run(run).state is RunState.FAILED
    return run


def test_a_failing_middle_task_reruns_with_its_dependents_and_the_run_succeeds(h: Harness) -> None:
    run = chain(h)
    repaired = h.engine.repair_run("r")
    assert repaired.state is RunState.RUNNING
    assert (repaired.repair_count, repaired.latest_repair_id) == (1, 1)
    assert h.states(run) == {"a": "SUCCESS", "b": "RUNNING", "c": "WAITING"}
    b = h.task(run, "b")
    assert b.attempt == 2 and b.promise_id == "r.b.2"
    assert h.launcher.run_for("r.b.2").request.idempotency_token == idempotency_token("r.b.2")
    assert h.params_of(run, "b")["rows"] == "7"  # a's value is kept and still flows on
    h.succeed(run, "b")
    h.succeed(run, "c")
    assert h.task(run, "a").value == {"rows": 7}
    assert runs_per_job(h) == {"job_a": 1, "job_b": 2, "job_c": 1}  # a never ran again
    done = h.run(run)
    assert done.state is RunState.SUCCESS and done.ended_at is not None
    assert h.task(run, "c").attempt == 1


def test_a_second_repair_must_name_the_latest_repair_id(h: Harness) -> None:
    chain(h)
    h.engine.repair_run("r")
    h.fail("r", "b")
    assert h.run("r").state is RunState.FAILED
    with pytest.raises(RepairConflict, match="give latest_repair_id 1"):
        h.engine.repair_run("r")
    with pytest.raises(RepairConflict, match="stale"):
        h.engine.repair_run("r", latest_repair_id=7)
    second = h.engine.repair_run("r", latest_repair_id=1)
    assert (second.repair_count, second.latest_repair_id) == (2, 2)
    assert h.task("r", "b").promise_id == "r.b.3"


def test_refusals_say_what_is_wrong(h: Harness) -> None:
    h.publish(flow("one", [job_task("a"), job_task("b", ["a"])]))
    run = h.start("one", run_id="live")
    with pytest.raises(RepairConflict, match="only a run that has ended") as running:
        h.engine.repair_run("live")
    assert running.value.status == 409
    h.fail(run, "a")
    with pytest.raises(BadRequest, match=r"no task\(s\) nope, zzz") as unknown:
        h.engine.repair_run("live", rerun_tasks=["a", "nope", "zzz"])
    assert unknown.value.status == 400 and unknown.value.details["unknown_tasks"] == ["nope", "zzz"]
    with pytest.raises(BadRequest, match="not both"):
        h.engine.repair_run("live", rerun_tasks=["a"], rerun_all_failed_tasks=True)
    with pytest.raises(RepairConflict, match="never been repaired"):
        h.engine.repair_run("live", latest_repair_id=1)
    with pytest.raises(BadRequest, match="no parameter"):
        h.engine.repair_run("live", params={"bogus": "1"})
    assert h.run("live").state is RunState.FAILED and h.run("live").repair_count == 0


def test_a_successful_run_is_repaired_only_with_explicit_tasks(h: Harness) -> None:
    h.publish(flow("ok", [job_task("a"), job_task("b", ["a"])]))
    run = h.start("ok", run_id="ok")
    h.succeed(run, "a", 1)
    h.succeed(run, "b", 2)
    with pytest.raises(RepairConflict, match="succeeded: name the tasks"):
        h.engine.repair_run("ok")
    h.engine.repair_run("ok", rerun_tasks=["a"])
    # b succeeded and rerun_dependent_tasks is off: only a runs again, and the run stays open for it
    assert h.states(run) == {"a": "RUNNING", "b": "SUCCESS"}
    assert h.run(run).state is RunState.RUNNING
    h.succeed(run, "a", 10)
    assert h.run(run).state is RunState.SUCCESS
    assert (h.task(run, "a").value, h.task(run, "b").value) == (10, 2)
    assert runs_per_job(h) == {"job_a": 2, "job_b": 1}


def test_rerun_dependent_tasks_reruns_the_successful_dependents_too(h: Harness) -> None:
    h.publish(flow("ok", [job_task("a"), job_task("b", ["a"]), job_task("c", ["b"]), job_task("x")]))
    run = h.start("ok", run_id="ok")
    for key in ("a", "x", "b", "c"):
        h.succeed(run, key, key)
    h.engine.repair_run("ok", rerun_tasks=["a"], rerun_dependent_tasks=True)
    assert h.states(run) == {"a": "RUNNING", "b": "WAITING", "c": "WAITING", "x": "SUCCESS"}
    h.succeed(run, "a", "a2")
    h.succeed(run, "b", "b2")
    assert h.run(run).state is RunState.RUNNING
    h.succeed(run, "c", "c2")
    assert h.run(run).state is RunState.SUCCESS
    assert runs_per_job(h) == {"job_a": 2, "job_b": 2, "job_c": 2, "job_x": 1}


def test_a_failing_branch_under_at_least_one_failed_runs_its_handler_again(h: Harness) -> None:
    """``a → load``, ``load → alert (AT_LEAST_ONE_FAILED)``: the handler ran and succeeded, the
    run FAILED (load is a leaf). The repair reruns load; once it succeeds, alert is EXCLUDED."""
    h.publish(
        flow(
            "br",
            [
                job_task("a"),
                job_task("load", ["a"]),
                job_task("alert", ["load"], run_if="AT_LEAST_ONE_FAILED"),
                job_task("report", ["load"]),
            ],
        )
    )
    run = h.start("br", run_id="br")
    h.succeed(run, "a")
    h.fail(run, "load")
    h.succeed(run, "alert")
    assert h.states(run) == {
        "a": "SUCCESS",
        "load": "FAILED",
        "alert": "SUCCESS",
        "report": "UPSTREAM_FAILED",
    }
    assert h.run(run).state is RunState.FAILED
    h.engine.repair_run("br", rerun_all_failed_tasks=True)
    # alert succeeded: it is kept (as Databricks keeps a task that succeeded) and not run again
    assert h.states(run) == {"a": "SUCCESS", "load": "RUNNING", "alert": "SUCCESS", "report": "WAITING"}
    h.succeed(run, "load")
    h.succeed(run, "report")
    assert h.run(run).state is RunState.SUCCESS
    assert runs_per_job(h) == {"job_a": 1, "job_load": 2, "job_alert": 1, "job_report": 1}


def test_the_handler_branch_is_evaluated_again_when_it_reruns_with_its_parent(h: Harness) -> None:
    h.publish(flow("br", [job_task("load"), job_task("alert", ["load"], run_if="AT_LEAST_ONE_FAILED")]))
    run = h.start("br", run_id="br")
    h.fail(run, "load")
    h.succeed(run, "alert")
    h.engine.repair_run("br", rerun_tasks=["load"], rerun_dependent_tasks=True)
    h.succeed(run, "load")
    assert h.states(run) == {"load": "SUCCESS", "alert": "EXCLUDED"}
    assert h.run(run).state is RunState.SUCCESS


def condition_flow(h: Harness) -> Run:
    h.publish(
        flow(
            "cond",
            [
                job_task("validate"),
                condition_task(
                    "check",
                    ["validate"],
                    "GREATER_THAN",
                    "{{tasks.validate.values.auc}}",
                    "{{job.parameters.bar}}",
                ),
                job_task("deploy", [("check", "true")], params={"repair": "{{job.repair_count}}"}),
                job_task("notify_bad", [("check", "false")]),
            ],
            params={"bar": "x"},
        )
    )
    run = h.start("cond", run_id="c")
    h.succeed(run, "validate", {"auc": 0.9})
    return run


def test_a_condition_branch_is_evaluated_again_with_new_parameters(h: Harness) -> None:
    run = condition_flow(h)
    # "x" is no number: the condition fails, both branches are skipped
    assert h.states(run) == {
        "validate": "SUCCESS",
        "check": "FAILED",
        "deploy": "UPSTREAM_FAILED",
        "notify_bad": "UPSTREAM_FAILED",
    }
    repaired = h.engine.repair_run("c", params={"bar": "0.5"})
    assert repaired.params["bar"] == "0.5"
    assert h.states(run) == {
        "validate": "SUCCESS",
        "check": "SUCCESS",
        "deploy": "RUNNING",
        "notify_bad": "EXCLUDED",
    }
    assert h.params_of(run, "deploy") == {"repair": "1", "lakehook": h.params_of(run, "deploy")["lakehook"]}
    h.succeed(run, "deploy")
    assert h.run(run).state is RunState.SUCCESS
    # the excluded side is evaluated again too: a repair of check with a higher bar flips it
    h.engine.repair_run(
        "c", rerun_tasks=["check"], rerun_dependent_tasks=True, latest_repair_id=1, params={"bar": "0.95"}
    )
    assert h.states(run) == {
        "validate": "SUCCESS",
        "check": "SUCCESS",
        "deploy": "EXCLUDED",
        "notify_bad": "RUNNING",
    }
    h.succeed(run, "notify_bad")
    assert h.run(run).state is RunState.SUCCESS
    assert runs_per_job(h) == {"job_validate": 1, "job_deploy": 1, "job_notify_bad": 1}


def test_a_canceled_run_is_repaired_and_its_result_derived_again(h: Harness) -> None:
    h.publish(flow("cx", [job_task("a"), job_task("b", ["a"])]))
    run = h.start("cx", run_id="cx")
    h.engine.stop_run("cx")
    assert h.run(run).state is RunState.CANCELED
    h.engine.repair_run("cx")
    assert h.run(run).stop_reason is None
    h.succeed(run, "a")
    h.succeed(run, "b")
    assert h.run(run).state is RunState.SUCCESS
    assert h.task(run, "a").attempt == 2  # the canceled attempt 1, then the repair's


def test_a_rerun_task_that_fails_under_kept_dependents_fails_no_leaf(h: Harness) -> None:
    h.publish(flow("ok", [job_task("a"), job_task("b", ["a"])]))
    run = h.start("ok", run_id="ok")
    h.succeed(run, "a")
    h.succeed(run, "b")
    h.engine.repair_run("ok", rerun_tasks=["a"])
    h.fail(run, "a")
    assert h.states(run) == {"a": "FAILED", "b": "SUCCESS"}
    assert h.run(run).state is RunState.SUCCESS_WITH_FAILURES
