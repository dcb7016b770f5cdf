"""Repair through the real API: the route, the client, the signed notification and ``lakehook repair``."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

import pytest
from client.conftest import Notebooks
from typer.testing import CliRunner

from lambda_resolver.cli.app import app
from lambda_resolver.cli.repair_cmd import repair  # noqa: F401 - registers the command
from lambda_resolver.client import LakehookClientError, verify_webhook

from support.flows import flow, job_task

if TYPE_CHECKING:
    from client.conftest import Receiver, Stack


def failed_run(stack: Stack, run_id: str, notify_url: str | None = None) -> None:
    """``a → b → c``: a succeeds, b fails, c is skipped; the run FAILED."""
    stack.h.publish(
        flow("chain", [job_task("a"), job_task("b", ["a"]), job_task("c", ["b"])], max_concurrent_runs=5)
    )
    stack.client.start_run("chain", run_id=run_id, notify_url=notify_url)
    stack.h.succeed(run_id, "a", {"rows": 3})
    stack.h.fail(run_id, "b")
    assert stack.client.get_run(run_id)["state"] == "FAILED"


def answer_new_runs(stack: Stack, before: set[int]) -> Notebooks:
    """Notebooks that call back for every Databricks run started after ``before``."""
    return Notebooks(stack.h, lambda key: {"done": key}, answered=set(before)).start()


def started_by_job(stack: Stack) -> Counter[str]:
    return Counter(r.request.job_key for r in stack.h.launcher.runs.values())


def test_a_repair_over_http_reruns_the_failed_task_and_tells_the_notify_url_again(
    stack: Stack, receiver: Receiver
) -> None:
    failed_run(stack, "r-rep", notify_url=receiver.url)
    ((first_headers, _),) = receiver.wait(1)
    before = set(stack.h.launcher.runs)
    doc = stack.client.repair_run("r-rep")
    assert (doc["state"], doc["repair_count"], doc["latest_repair_id"]) == ("RUNNING", 1, 1)
    tasks = {t["task_key"]: t for t in doc["tasks"]}
    assert (tasks["a"]["state"], tasks["b"]["state"], tasks["b"]["attempt"]) == ("SUCCESS", "RUNNING", 2)
    assert tasks["b"]["promise_id"] == "r-rep.b.2" and tasks["a"]["value"] == {"rows": 3}
    notebooks = answer_new_runs(stack, before)
    try:
        done = stack.client.wait("r-rep", timeout_s=10, poll_s=0.05)
    finally:
        notebooks.close()
    assert done["state"] == "SUCCESS" and done["repair_count"] == 1
    assert started_by_job(stack) == {"job_a": 1, "job_b": 2, "job_c": 1}
    received = receiver.wait(2)
    assert len(received) == 2
    headers, body = received[1]
    assert verify_webhook(stack.notify_secret, headers, body)["data"]["state"] == "SUCCESS"
    assert headers["webhook-id"] == "msg_run_r-rep_repair1" != first_headers["webhook-id"]


def test_repair_refusals_are_409_and_400_that_say_what_to_do(stack: Stack) -> None:
    failed_run(stack, "r-ref")
    with pytest.raises(LakehookClientError) as unknown:
        stack.client.repair_run("r-ref", rerun_tasks=["b", "ghost"])
    assert unknown.value.status == 400 and "ghost" in unknown.value.message
    stack.client.repair_run("r-ref")
    with pytest.raises(LakehookClientError) as running:
        stack.client.repair_run("r-ref", latest_repair_id=1)
    assert running.value.status == 409 and "only a run that has ended" in running.value.message
    stack.h.fail("r-ref", "b")
    with pytest.raises(LakehookClientError) as missing:
        stack.client.repair_run("r-ref")
    assert missing.value.status == 409 and "latest_repair_id 1" in missing.value.message
    with pytest.raises(LakehookClientError) as nothing:
        stack.client.repair_run("ghost-run")
    assert nothing.value.status == 404


def test_lakehook_repair_reads_the_repair_id_itself_and_waits(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed_run(stack, "r-cli")
    monkeypatch.setenv("LAKEHOOK_URL", stack.url)
    monkeypatch.setenv("LAKEHOOK_OPERATOR_KEY", stack.operator_key)
    cli = CliRunner()
    first = cli.invoke(app, ["repair", "r-cli", "--task", "b"], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "repair 1 of run r-cli" in first.output and "b, c" in first.output
    stack.h.fail("r-cli", "b")
    # the second repair needs latest_repair_id 1: the command reads it from the run document
    before = set(stack.h.launcher.runs)
    notebooks = answer_new_runs(stack, before)
    try:
        waited = cli.invoke(app, ["repair", "r-cli", "-p", "x=1", "--wait", "--json"])
    finally:
        notebooks.close()
    assert waited.exit_code == 2 and "no parameter(s) x" in waited.output  # the flow declares none
    try:
        notebooks = answer_new_runs(stack, before)
        waited = cli.invoke(app, ["repair", "r-cli", "--all-failed", "--wait", "--json"])
    finally:
        notebooks.close()
    assert waited.exit_code == 0, waited.output
    final = json.loads(waited.output)
    assert (final["state"], final["repair_count"], final["latest_repair_id"]) == ("SUCCESS", 2, 2)
    # each repair moves a reset task's attempt on, c's too (skipped after the first repair)
    assert {t["task_key"]: t["attempt"] for t in final["tasks"]} == {"a": 1, "b": 3, "c": 2}
    refused = cli.invoke(app, ["repair", "r-cli"])
    assert refused.exit_code == 2 and "succeeded: name the tasks" in refused.output
