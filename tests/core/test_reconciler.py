"""The reconciler with a fake clock: timeouts, lost callbacks, stuck claims, cut-short work."""

from __future__ import annotations

from lambda_resolver.core.errors import LaunchError
from lambda_resolver.core.models import PromiseState, RunState, TaskState

from support.flows import flow, job_task
from support.harness import Harness


def test_a_task_past_its_timeout_is_timed_out_and_its_run_canceled(h: Harness) -> None:
    h.publish(flow("f", [job_task("a", timeout_seconds=60), job_task("b", ["a"])]))
    run = h.start("f")
    a = h.task(run, "a")
    h.advance(59_000)
    assert h.task(run, "a").state is TaskState.RUNNING
    counts = h.advance(1_000)
    assert counts.get("timed_out") == 1
    a_after = h.task(run, "a")
    assert a_after.state is TaskState.TIMEDOUT
    assert h.engine.get_promise(a.promise_id or "").state is PromiseState.REJECTED_TIMEDOUT
    assert h.launcher.runs[a.databricks_run_id or 0].canceled
    assert h.states(run)["b"] == "UPSTREAM_FAILED" and h.run(run).state is RunState.FAILED


def test_a_timed_out_task_with_retry_on_timeout_starts_again(h: Harness) -> None:
    h.publish(flow("f", [job_task("a", timeout_seconds=10, max_retries=1, retry_on_timeout=True)]))
    run = h.start("f")
    h.advance(10_000)
    a = h.task(run, "a")
    assert (a.state, a.attempt) == (TaskState.RUNNING, 2)


def test_a_run_that_ended_without_a_callback_is_settled_from_its_output(h: Harness) -> None:
    h.publish(flow("f", [job_task("a"), job_task("b", ["a"], params={"n": "{{tasks.a.values.n}}"})]))
    run = h.start("f")
    a = h.task(run, "a")
    h.launcher.end(a.databricks_run_id or 0, "SUCCESS", output={"n": 7}, at=h.clock.now())
    h.advance(1_000)  # inside the success grace: notify_done may still come with the value
    assert h.task(run, "a").state is TaskState.RUNNING
    counts = h.advance(5_000)
    assert counts.get("settled_from_run") == 1
    assert h.task(run, "a").value == {"n": 7}
    assert h.params_of(run, "b")["n"] == "7"


def test_a_failed_run_without_a_callback_rejects_with_the_runs_message(h: Harness) -> None:
    h.publish(flow("f", [job_task("a")]))
    run = h.start("f")
    a = h.task(run, "a")
    h.launcher.end(a.databricks_run_id or 0, "FAILED", message="Cell 3: ZeroDivisionError")
    h.advance(5_000)
    after = h.task(run, "a")
    assert after.state is TaskState.FAILED
    assert after.error == {"type": "DatabricksRunFailed", "message": "Cell 3: ZeroDivisionError"}


def test_a_webhook_is_only_a_hint_the_run_is_re_read(h: Harness) -> None:
    h.publish(flow("f", [job_task("a")]))
    run = h.start("f")
    a = h.task(run, "a")
    assert h.engine.on_databricks_run(a.databricks_run_id or 0) is not None
    assert h.task(run, "a").state is TaskState.RUNNING  # the run has not ended: nothing settles
    h.launcher.end(a.databricks_run_id or 0, "CANCELED", message="canceled in the UI")
    h.engine.on_databricks_run(a.databricks_run_id or 0)
    assert h.task(run, "a").state is TaskState.CANCELED
    assert h.engine.on_databricks_run(999_999) is None


def test_a_stuck_claim_is_re_driven_with_the_same_token(h: Harness) -> None:
    h.publish(flow("f", [job_task("a")]))
    h.launcher.fail_next.append(LaunchError("503 Service Unavailable", permanent=False))
    run = h.start("f")
    a = h.task(run, "a")
    assert a.state is TaskState.TRIGGERING and len(h.launcher.runs) == 0
    h.launcher.fail_next.append(LaunchError("still down", permanent=False))
    h.advance(30_000)
    assert h.task(run, "a").state is TaskState.TRIGGERING
    h.advance(30_000)
    after = h.task(run, "a")
    assert after.state is TaskState.RUNNING and after.attempt == 1
    token = h.launcher.run_for(a.promise_id or "").request.idempotency_token
    assert h.launcher.calls[token] == 3 and h.launcher.started[token] == 1


def test_a_permanent_launch_error_fails_the_task_naming_the_job(h: Harness) -> None:
    h.publish(flow("f", [job_task("a")]))
    h.launcher.fail_next.append(LaunchError("Job 1 does not exist.", permanent=True))
    run = h.start("f")
    a = h.task(run, "a")
    assert a.state is TaskState.FAILED
    assert a.error is not None and "job 'job_a' (id 1)" in a.error["message"]


def test_a_crash_after_a_settle_is_finished_by_the_reconciler(h: Harness) -> None:
    h.publish(flow("f", [job_task("a"), job_task("b", ["a"])]))
    run = h.start("f")
    a = h.task(run, "a")
    # The promise settles, then the process dies before the task moves on.
    h.store.update_promise(a.promise_id or "", {"state": "RESOLVED", "value": 1, "settled_at": h.clock.now()})
    assert h.task(run, "a").state is TaskState.RUNNING
    h.advance(5_000)
    assert h.states(run) == {"a": "SUCCESS", "b": "RUNNING"}


def test_a_crash_mid_propagation_is_finished_by_the_reconciler(h: Harness) -> None:
    h.publish(flow("f", [job_task("a"), job_task("b", ["a"]), job_task("c", ["a"])]))
    run = h.start("f")
    a = h.task(run, "a")
    h.store.update_task(
        run.run_id,
        "a",
        {"state": "SUCCESS", "due_at": h.clock.now() + 10_000},
        expect_states=(TaskState.RUNNING,),
    )
    h.store.deliver_edge(run.run_id, "b", "a", "ok")  # ...and dies before c and the claim
    h.advance(10_000)
    assert h.states(run) == {"a": "SUCCESS", "b": "RUNNING", "c": "RUNNING"}
    assert a.promise_id is not None and h.launcher.duplicates == {}


def test_a_run_whose_roots_were_never_claimed_is_started_by_its_watchdog(h: Harness) -> None:
    h.publish(flow("f", [job_task("a")]))
    run = h.start("f")
    # Simulate a crash right after RUNNING: put a second run in that state by hand.
    from lambda_resolver.core.models import Run, Task

    stuck = Run(
        run_id="stuck",
        flow="f",
        flow_version=1,
        state=RunState.RUNNING,
        created_at=h.clock.now(),
        open_leaves=1,
        due_at=h.clock.now() + 60_000,
    )
    h.store.create_run(stuck, [Task(run_id="stuck", key="a", state=TaskState.WAITING, waiting=0)])
    h.succeed(run, "a")
    h.advance(60_000)
    assert h.states("stuck") == {"a": "RUNNING"}


def test_a_standalone_promise_with_a_job_starts_it_and_is_settled_by_its_callback(h: Harness) -> None:
    params = {"x": "1", "flag": True, "cfg": {"a": 1}}
    p, _ = h.engine.standalone.create("order-7", timeout_s=600, job={"job_id": 55, "params": params})
    assert p.databricks_run_id is not None
    request = h.launcher.runs[p.databricks_run_id].request
    assert request.job_id == 55 and "lakehook" in request.parameters
    assert (request.parameters["x"], request.parameters["flag"], request.parameters["cfg"]) == (
        "1",
        "true",
        '{"a": 1}',
    )
    h.engine.settle("order-7", PromiseState.RESOLVED, value={"ok": True})
    assert h.engine.get_promise("order-7").value == {"ok": True}


def test_a_standalone_promise_whose_start_was_lost_is_started_by_the_reconciler(h: Harness) -> None:
    h.launcher.fail_next.append(LaunchError("timeout", permanent=False))
    p, _ = h.engine.standalone.create("order-8", timeout_s=600, job={"job_id": 55})
    assert p.databricks_run_id is None
    h.advance(30_000)
    assert h.engine.get_promise("order-8").databricks_run_id is not None
    assert h.launcher.duplicates == {}


def test_a_standalone_promise_times_out_and_its_run_is_canceled(h: Harness) -> None:
    p, _ = h.engine.standalone.create("order-9", timeout_s=20, job={"job_id": 55})
    h.advance(20_000)
    assert h.engine.get_promise("order-9").state is PromiseState.REJECTED_TIMEDOUT
    assert h.launcher.runs[p.databricks_run_id or 0].canceled
