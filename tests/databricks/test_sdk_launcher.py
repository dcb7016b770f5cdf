"""SdkLauncher: the core's Launcher on the real databricks-sdk, against the local workspace."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.errors import LaunchError
from lambda_resolver.core.launcher import TriggerRequest
from lambda_resolver.databricks import SdkLauncher, credentials_from_secret
from lambda_resolver.local import Fault, LocalWorkspace

ChildJob = Callable[..., int]
ROOT = Path(__file__).resolve().parents[2]


def request(job_id: int, idem: str = "lh-default", **params: str) -> TriggerRequest:
    parameters = {"lakehook": "lh1.handle", **params}
    return TriggerRequest(job_id, "child", parameters, idem, promise_id=f"p-{idem}")


@pytest.fixture
def launcher(workspace: LocalWorkspace, client: Any) -> SdkLauncher:
    return SdkLauncher(lambda: client)


def test_importing_the_launcher_does_not_import_databricks_sdk() -> None:
    code = (
        "import sys, lambda_resolver.databricks.launcher, lambda_resolver.databricks; "
        "assert 'databricks.sdk' not in sys.modules, 'databricks.sdk was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_the_client_is_built_on_first_use_and_only_once(client: Any) -> None:
    calls: list[int] = []

    def factory() -> Any:
        calls.append(1)
        time.sleep(0.05)
        return client

    launcher = SdkLauncher(factory)
    assert calls == []
    threads = [threading.Thread(target=launcher.client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and launcher.client() is client


def test_trigger_starts_one_run_per_token_with_the_parameters_and_names_its_page(
    workspace: LocalWorkspace, launcher: SdkLauncher, child_job: ChildJob
) -> None:
    job = child_job("run_date")
    first = launcher.trigger(request(job, "lh-trigger", run_date="2026-11-23"))
    again = launcher.trigger(request(job, "lh-trigger", run_date="2026-11-23"))
    assert first == again
    assert first.run_page_url == f"{workspace.url}/jobs/{job}/runs/{first.databricks_run_id}"
    assert workspace.runs_per_token()["lh-trigger"] == 1
    assert workspace.run(first.databricks_run_id).job_parameters == {
        "lakehook": "lh1.handle",
        "run_date": "2026-11-23",
    }


@pytest.mark.parametrize(
    ("exit_value", "expected"),
    [({"rows": 10}, {"rows": 10}), ("plain text", "plain text"), ("42", 42), (None, None)],
)
def test_get_run_of_a_successful_run_returns_the_exit_value_json_decoded_when_it_is_json(
    workspace: LocalWorkspace, launcher: SdkLauncher, child_job: ChildJob, exit_value: Any, expected: Any
) -> None:
    launched = launcher.trigger(request(child_job(), f"lh-out-{exit_value!r}"))
    workspace.finish(launched.databricks_run_id, "SUCCESS", output=exit_value)
    status = launcher.get_run(launched.databricks_run_id)
    assert (status.life, status.result, status.output) == ("TERMINATED", "SUCCESS", expected)
    assert status.ended and status.ended_at is not None
    assert status.run_page_url == launched.run_page_url


def test_get_run_of_a_running_run_reads_no_output(
    workspace: LocalWorkspace, launcher: SdkLauncher, child_job: ChildJob
) -> None:
    launched = launcher.trigger(request(child_job(), "lh-running"))
    before = workspace.requests["jobs/runs/get-output"]
    status = launcher.get_run(launched.databricks_run_id)
    assert (status.life, status.result, status.output, status.ended_at) == ("RUNNING", None, None, None)
    assert workspace.requests["jobs/runs/get-output"] == before


def test_get_run_of_a_failed_run_carries_its_message(
    workspace: LocalWorkspace, launcher: SdkLauncher, child_job: ChildJob
) -> None:
    launched = launcher.trigger(request(child_job(), "lh-failed"))
    workspace.finish(launched.databricks_run_id, "FAILED", message="Workload failed: no table")
    status = launcher.get_run(launched.databricks_run_id)
    assert (status.life, status.result, status.message) == (
        "TERMINATED",
        "FAILED",
        "Workload failed: no table",
    )
    assert status.output is None


def test_the_value_of_a_multi_task_child_job_is_the_last_notebook_task_to_end(
    workspace: LocalWorkspace, launcher: SdkLauncher, child_job: ChildJob
) -> None:
    tasks = [
        {"task_key": "load", "notebook_task": {"notebook_path": "/l"}},
        {"task_key": "wheel", "python_wheel_task": {"package_name": "p", "entry_point": "e"}},
        {"task_key": "publish", "notebook_task": {"notebook_path": "/p"}},
    ]
    run_id = launcher.trigger(request(child_job(tasks=tasks), "lh-multi")).databricks_run_id
    workspace.finish(run_id, "SUCCESS", task_key="publish", output={"from": "publish"})
    workspace.finish(run_id, "SUCCESS", task_key="load", output={"from": "load"})  # ends last
    workspace.finish(run_id, "SUCCESS", task_key="wheel")
    assert launcher.get_run(run_id).output == {"from": "load"}


def test_cancel_stops_a_run_and_is_quiet_for_ended_or_unknown_runs(
    workspace: LocalWorkspace, launcher: SdkLauncher, child_job: ChildJob
) -> None:
    run_id = launcher.trigger(request(child_job(), "lh-cancel")).databricks_run_id
    launcher.cancel(run_id)
    assert launcher.get_run(run_id).result == "CANCELED"
    launcher.cancel(run_id)
    launcher.cancel(987654321)


def test_an_unknown_run_is_a_permanent_launch_error(launcher: SdkLauncher) -> None:
    with pytest.raises(LaunchError) as err:
        launcher.get_run(987654321)
    assert err.value.permanent and "987654321" in err.value.message


# -- error mapping --------------------------------------------------------------------------------------
def test_an_unknown_job_is_a_permanent_launch_error_naming_the_job(launcher: SdkLauncher, token: str) -> None:
    with pytest.raises(LaunchError) as err:
        launcher.trigger(request(424242, "lh-unknown-job"))
    assert err.value.permanent
    assert "job 424242" in err.value.message and "InvalidParameterValue" in err.value.message
    assert token not in err.value.message


def test_an_undeclared_parameter_is_a_permanent_launch_error(
    launcher: SdkLauncher, child_job: ChildJob
) -> None:
    with pytest.raises(LaunchError) as err:
        launcher.trigger(request(child_job(), "lh-undeclared", surprise="1"))
    assert err.value.permanent and "surprise" in err.value.message


def test_a_500_is_a_transient_launch_error(
    workspace: LocalWorkspace, launcher: SdkLauncher, child_job: ChildJob
) -> None:
    workspace.faults.add("jobs/run-now", Fault.http(500))
    with pytest.raises(LaunchError) as err:
        launcher.trigger(request(child_job(), "lh-500"))
    assert not err.value.permanent
    assert "lh-500" not in workspace.runs_per_token()


def test_throttling_and_dropped_connections_are_retried_into_one_run(
    workspace: LocalWorkspace, launcher: SdkLauncher, child_job: ChildJob
) -> None:
    workspace.faults.add("jobs/run-now", Fault.http(429, retry_after=1))
    workspace.faults.add("jobs/run-now", Fault.drop())
    workspace.faults.add("jobs/run-now", Fault.drop_after())
    launched = launcher.trigger(request(child_job(), "lh-flaky"))
    assert workspace.runs_per_token()["lh-flaky"] == 1
    assert workspace.run(launched.databricks_run_id).idempotency_token == "lh-flaky"


def test_a_workspace_that_stays_unavailable_fails_transiently_within_the_retry_budget(
    workspace: LocalWorkspace, child_job: ChildJob, token: str
) -> None:
    job = child_job()
    launcher = SdkLauncher(host=workspace.url, config={"token": token}, retry_timeout_s=1)
    launcher.client()  # built through Config(retry_timeout_seconds=1), the production path
    workspace.faults.add("jobs/run-now", Fault.http(503, retry_after=0), times=None)
    started = time.monotonic()
    with pytest.raises(LaunchError) as err:
        launcher.trigger(request(job, "lh-always-503"))
    assert time.monotonic() - started < 4
    assert not err.value.permanent and "retry budget" in err.value.message


def test_credentials_come_from_the_environment_by_default(
    workspace: LocalWorkspace, child_job: ChildJob, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", token)
    launched = SdkLauncher().trigger(request(child_job(), "lh-env"))
    assert launched.run_page_url is not None and launched.run_page_url.startswith(workspace.url)


def test_a_client_without_credentials_is_a_permanent_launch_error(
    workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("DATABRICKS_TOKEN", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET", "DATABRICKS_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none.cfg"))
    with pytest.raises(LaunchError) as err:
        SdkLauncher(host=workspace.url, retry_timeout_s=1).get_run(1)
    assert err.value.permanent and "cannot build the Databricks client" in err.value.message


def test_a_secret_never_reaches_a_launch_error_message() -> None:
    secret = "dapi-very-secret-0123"

    def factory() -> Any:
        raise ValueError(f"bad credentials: {secret}")

    with pytest.raises(LaunchError) as err:
        SdkLauncher(factory, config={"token": secret}).get_run(1)
    assert secret not in err.value.message and "***" in err.value.message


# -- credentials_from_secret --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (
            '{"host": "https://x.cloud.databricks.com/", "token": "dapi1"}',
            {"host": "https://x.cloud.databricks.com", "token": "dapi1"},
        ),
        (
            '{"host": "https://x", "client_id": "id", "client_secret": "s"}',
            {"host": "https://x", "client_id": "id", "client_secret": "s"},
        ),
        (
            '{"DATABRICKS_HOST": "https://x", "DATABRICKS_TOKEN": "dapi1"}',
            {"host": "https://x", "token": "dapi1"},
        ),
    ],
)
def test_credentials_from_a_secret_accept_a_pat_or_oauth_m2m(secret: str, expected: dict[str, str]) -> None:
    assert credentials_from_secret(secret) == expected


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("dapi-not-json", "not valid JSON"),
        ('["host"]', "JSON object"),
        ('{"token": "dapi-secret-value"}', "no 'host'"),
        ('{"host": "https://x"}', "needs 'token'"),
        (
            '{"host": "https://x", "token": "dapi-secret-value", "client_id": "i", "client_secret": "s"}',
            "keep one",
        ),
    ],
)
def test_a_bad_secret_is_refused_without_echoing_it(secret: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as err:
        credentials_from_secret(secret)
    assert "dapi" not in str(err.value)
