"""The local workspace answers databricks-sdk as a Databricks workspace does (real SDK, real HTTP)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from databricks.sdk import errors

from lambda_resolver.local import CallbackExecutor, Fault, LocalRun, LocalWorkspace, ManualExecutor
from lambda_resolver.local.jobs_api import MULTI_TASK_OUTPUT

ChildJob = Callable[..., int]
MakeClient = Callable[..., Any]


def test_run_now_twice_with_one_token_starts_one_run(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    job = child_job()
    first = client.jobs.run_now(job_id=job, job_parameters={"lakehook": "h"}, idempotency_token="tok-once")
    again = client.jobs.run_now(job_id=job, job_parameters={"lakehook": "h"}, idempotency_token="tok-once")
    assert first.run_id == again.run_id
    assert workspace.runs_per_token()["tok-once"] == 1
    assert workspace.api.run_now_calls["tok-once"] == 2
    assert first.response.number_in_job == first.run_id


def test_concurrent_run_nows_with_one_token_start_one_run(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    job = child_job()
    run_ids: list[int] = []

    def fire() -> None:
        run_ids.append(client.jobs.run_now(job_id=job, idempotency_token="tok-race").run_id)

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(run_ids)) == 1 and len(run_ids) == 8
    assert workspace.runs_per_token()["tok-race"] == 1


def test_job_parameters_arrive_overlaid_on_the_declared_defaults(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    job = child_job(
        "run_date", parameters=[{"name": "lakehook", "default": ""}, {"name": "d", "default": "x"}]
    )
    waiter = client.jobs.run_now(
        job_id=job, job_parameters={"lakehook": "lh1.abc"}, idempotency_token="tok-p"
    )
    assert workspace.run(waiter.run_id).job_parameters == {"lakehook": "lh1.abc", "d": "x"}
    run = client.jobs.get_run(waiter.run_id)
    assert {p.name: p.value for p in run.job_parameters} == {"lakehook": "lh1.abc", "d": "x"}


def test_an_undeclared_job_parameter_is_refused_and_starts_nothing(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    job = child_job()
    with pytest.raises(errors.InvalidParameterValue, match="nope"):
        client.jobs.run_now(job_id=job, job_parameters={"nope": "1"}, idempotency_token="tok-bad-param")
    assert "tok-bad-param" not in workspace.runs_per_token()


def test_an_unknown_job_is_invalid_parameter_value_on_run_now_and_missing_on_get(client: Any) -> None:
    with pytest.raises(errors.InvalidParameterValue, match=r"Job 424242 does not exist\."):
        client.jobs.run_now(job_id=424242, idempotency_token="tok-missing")
    with pytest.raises(errors.ResourceDoesNotExist):
        client.jobs.get(424242)
    with pytest.raises(errors.ResourceDoesNotExist, match=r"Run 424242 does not exist\."):
        client.jobs.get_run(424242)


def test_get_run_carries_the_legacy_state_and_the_new_status_and_a_distinct_task_run_id(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    job = child_job()
    run_id = client.jobs.run_now(job_id=job, idempotency_token="tok-shape").run_id
    running = client.jobs.get_run(run_id)
    assert running.state.life_cycle_state.value == "RUNNING" and running.state.result_state is None
    assert running.status.state.value == "RUNNING" and running.end_time == 0
    assert running.job_id == job and running.run_page_url == f"{workspace.url}/jobs/{job}/runs/{run_id}"
    (task,) = running.tasks
    assert task.task_key == "main" and task.run_id != run_id
    assert client.jobs.get_run(task.run_id).job_run_id == run_id  # a task run reads on its own

    workspace.finish(run_id, "FAILED", message="boom", error="ValueError: boom")
    ended = client.jobs.get_run(run_id)
    assert (ended.state.life_cycle_state.value, ended.state.result_state.value) == ("TERMINATED", "FAILED")
    assert ended.state.state_message == "boom" and ended.end_time >= ended.start_time > 0
    assert ended.status.state.value == "TERMINATED"
    assert ended.status.termination_details.code.value == "RUN_EXECUTION_ERROR"
    assert client.jobs.get_run_output(task.run_id).error == "ValueError: boom"


def test_get_run_output_gives_the_exit_value_of_a_task_run_and_refuses_a_job_run_id(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    run_id = client.jobs.run_now(job_id=child_job(), idempotency_token="tok-out").run_id
    workspace.finish(run_id, "SUCCESS", output={"rows": 10})
    task_run_id = client.jobs.get_run(run_id).tasks[0].run_id
    assert client.jobs.get_run_output(task_run_id).notebook_output.result == '{"rows":10}'
    with pytest.raises(errors.InvalidParameterValue) as err:
        client.jobs.get_run_output(run_id)
    assert str(err.value) == MULTI_TASK_OUTPUT


def test_a_multi_task_run_ends_with_its_last_task_and_keeps_each_task_output(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    tasks = [
        {"task_key": "prep", "notebook_task": {"notebook_path": "/p"}},
        {"task_key": "main", "depends_on": [{"task_key": "prep"}], "notebook_task": {"notebook_path": "/m"}},
    ]
    run_id = client.jobs.run_now(job_id=child_job(tasks=tasks), idempotency_token="tok-multi").run_id
    workspace.finish(run_id, "SUCCESS", task_key="prep", output="p")
    assert client.jobs.get_run(run_id).state.life_cycle_state.value == "RUNNING"
    workspace.finish(run_id, "SUCCESS", task_key="main", output="m")
    run = client.jobs.get_run(run_id)
    assert run.state.result_state.value == "SUCCESS"
    outputs = {t.task_key: client.jobs.get_run_output(t.run_id).notebook_output.result for t in run.tasks}
    assert outputs == {"prep": "p", "main": "m"}


def test_cancel_ends_the_run_canceled_and_is_quiet_on_ended_runs(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    run_id = client.jobs.run_now(job_id=child_job(), idempotency_token="tok-cancel").run_id
    client.jobs.cancel_run(run_id)
    run = client.jobs.get_run(run_id)
    assert (run.state.life_cycle_state.value, run.state.result_state.value) == ("TERMINATED", "CANCELED")
    assert run.status.termination_details.code.value == "USER_CANCELED"
    client.jobs.cancel_run(run_id)  # already ended: no error
    with pytest.raises(errors.InvalidParameterValue):
        client.jobs.cancel_run(31337)


def test_a_slow_executor_leaves_a_canceled_run_terminating_until_it_stops(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    class Slow(ManualExecutor):
        def cancel(self, run: LocalRun) -> None:
            pass  # stops later

    workspace.executor = Slow()
    run_id = client.jobs.run_now(job_id=child_job(), idempotency_token="tok-slow-cancel").run_id
    client.jobs.cancel_run(run_id)
    assert client.jobs.get_run(run_id).status.state.value == "TERMINATING"
    workspace.finish(run_id, "SUCCESS")  # the notebook ended after all: the cancel wins
    assert client.jobs.get_run(run_id).state.result_state.value == "CANCELED"


def test_a_callback_executor_runs_the_notebook_with_its_parameters(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    executor = CallbackExecutor(lambda run: {"handle": run.job_parameters["lakehook"]})
    workspace.executor = executor
    run_id = client.jobs.run_now(job_id=child_job(), job_parameters={"lakehook": "lh1.x"}).run_id
    run = workspace.wait(run_id)
    assert (run.life, run.result) == ("TERMINATED", "SUCCESS")
    assert json.loads(run.task().output or "") == {"handle": "lh1.x"}


def test_a_callback_that_raises_fails_the_run_with_its_error(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    def notebook(run: LocalRun) -> None:
        raise RuntimeError("no table")

    workspace.executor = CallbackExecutor(notebook)
    run = workspace.wait(client.jobs.run_now(job_id=child_job()).run_id)
    assert run.result == "FAILED" and run.task().error == "RuntimeError: no table"


def test_jobs_list_filters_by_exact_name_case_insensitively_across_pages(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    ids = [child_job(name="Paged Job") for _ in range(25)]
    child_job(name="Paged Job 2")
    before = workspace.requests["jobs/list"]
    found = [j.job_id for j in client.jobs.list(name="paged job", limit=10)]
    assert found == ids
    assert workspace.requests["jobs/list"] - before == 3  # three pages of at most 10
    assert client.jobs.get(ids[0]).settings.name == "Paged Job"


def test_re_registering_a_bundle_job_keeps_its_id(workspace: LocalWorkspace) -> None:
    first = workspace.register_job(None, "etl", {"tasks": []}, key="etl_key")
    again = workspace.register_job(None, "etl renamed", {"tasks": []}, key="etl_key")
    assert first == again and workspace.job_ids()["etl_key"] == first


def test_a_wrong_token_is_unauthenticated(
    workspace: LocalWorkspace, child_job: ChildJob, make_client: MakeClient
) -> None:
    with pytest.raises(errors.Unauthenticated):
        make_client(workspace.url, token="wrong").jobs.get(child_job())


def test_the_workspace_binds_loopback_only_unless_told() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LocalWorkspace("0.0.0.0", executor=ManualExecutor())  # noqa: S104


# -- faults: what the SDK does with a flaky workspace ----------------------------------------------
def test_a_503_then_success_is_retried_by_the_sdk_and_starts_one_run(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    workspace.faults.add("jobs/run-now", Fault.http(503, retry_after=0))
    workspace.faults.add("jobs/run-now", Fault.http(429, retry_after=0))
    before = workspace.requests["jobs/run-now"]
    client.jobs.run_now(job_id=child_job(), idempotency_token="tok-503")
    assert workspace.requests["jobs/run-now"] - before == 3
    assert workspace.runs_per_token()["tok-503"] == 1


def test_a_lost_run_now_response_is_re_sent_and_the_token_returns_the_same_run(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    workspace.faults.add("jobs/run-now", Fault.drop_after())
    run_id = client.jobs.run_now(job_id=child_job(), idempotency_token="tok-lost").run_id
    assert workspace.api.run_now_calls["tok-lost"] == 2
    assert workspace.runs_per_token()["tok-lost"] == 1
    assert [r.run_id for r in workspace.runs() if r.idempotency_token == "tok-lost"] == [run_id]


def test_a_500_is_not_retried_by_the_sdk(workspace: LocalWorkspace, client: Any, child_job: ChildJob) -> None:
    workspace.faults.add("jobs/run-now", Fault.http(500))
    before = workspace.requests["jobs/run-now"]
    with pytest.raises(errors.InternalError):
        client.jobs.run_now(job_id=child_job(), idempotency_token="tok-500")
    assert workspace.requests["jobs/run-now"] - before == 1


def test_a_delay_slows_the_answer_without_changing_it(
    workspace: LocalWorkspace, client: Any, child_job: ChildJob
) -> None:
    job = child_job()
    workspace.faults.add("jobs/get", Fault.delay(150))
    started = time.monotonic()
    assert client.jobs.get(job).job_id == job
    assert time.monotonic() - started >= 0.15


# -- webhooks ------------------------------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.headers.get("Authorization", ""), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/webhooks/databricks", received
    server.shutdown()
    server.server_close()


def test_a_subscribed_job_sends_the_databricks_notification_payload_with_basic_auth(
    workspace: LocalWorkspace,
    client: Any,
    child_job: ChildJob,
    receiver: tuple[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    url, received = receiver
    workspace.configure_webhooks(url, username="hook", password="pw")
    hooks = {"on_success": [{"id": "dest-1"}], "on_failure": [{"id": "dest-1"}]}
    job = child_job(name="hooked", webhook_notifications=hooks)
    run_id = client.jobs.run_now(job_id=job).run_id
    workspace.finish(run_id, "SUCCESS")
    workspace.webhooks.flush()
    auth, payload = received[-1]
    assert auth == "Basic " + base64.b64encode(b"hook:pw").decode()
    assert payload == {
        "event_type": "jobs.on_success",
        "workspace_id": workspace.workspace_id,
        "run": {"run_id": run_id},
        "job": {"job_id": job, "name": "hooked"},
    }
    assert len(received) == 1  # no on_start subscription: nothing sent when it started
