"""The Python client, end to end over loopback HTTP against the real API (DESIGN §5)."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

import pytest

from lambda_resolver.client import (
    FINAL_RUN_STATES,
    LakehookClient,
    LakehookClientError,
    WaitTimeout,
    WebhookVerificationError,
    verify_webhook,
)
from notebook_lib.handle import decode_handle

from support.flows import flow, job_task

if TYPE_CHECKING:
    from client.conftest import Receiver, Stack


def nightly() -> Any:
    return flow(
        "nightly",
        [
            job_task("extract"),
            job_task("report", ["extract"], params={"rows": "{{tasks.extract.values.rows}}"}),
        ],
        params={"run_date": ""},
    )


def start_and_wait(url: str, key: str, run_date: str) -> dict[str, Any]:
    """What a FastAPI (or any backend) handler needs: three lines."""
    client = LakehookClient(url, operator_key=key)
    run = client.start_run("nightly", params={"run_date": run_date})
    return client.wait(run["run_id"], timeout_s=30)


# -- runs ----------------------------------------------------------------------------------------
def test_a_backend_handler_starts_a_flow_and_waits_for_it_in_three_lines(stack: Stack) -> None:
    stack.h.publish(nightly())
    notebooks = stack.notebooks(lambda key: {"rows": 10})
    try:
        done = start_and_wait(stack.url, stack.operator_key, "2026-11-23")
    finally:
        notebooks.close()
    assert done["state"] == "SUCCESS" and done["params"] == {"run_date": "2026-11-23"}
    assert [(t["task_key"], t["state"], t["value"]) for t in done["tasks"]] == [
        ("extract", "SUCCESS", {"rows": 10}),
        ("report", "SUCCESS", {"rows": 10}),
    ]
    assert stack.h.params_of(done["run_id"], "report")["rows"] == "10"


def test_start_run_answers_the_run_document_and_is_idempotent_by_run_id(stack: Stack) -> None:
    stack.h.publish(nightly())
    first = stack.client.start_run("nightly", params={"run_date": "2026-11-23"}, run_id="r-1")
    assert (first["run_id"], first["flow"], first["flow_version"], first["state"]) == (
        "r-1",
        "nightly",
        1,
        "RUNNING",
    )
    assert [t["task_key"] for t in first["tasks"]] == ["extract", "report"]
    again = stack.client.start_run("nightly", params={"run_date": "2026-11-23"}, run_id="r-1")
    assert again == first  # 201 then 200: the client returns the same document either way
    assert list(stack.h.launcher.started.values()) == [1]  # one Databricks run for the root
    with pytest.raises(LakehookClientError) as conflict:
        stack.client.start_run("nightly", params={"run_date": "2026-11-24"}, run_id="r-1")
    assert (conflict.value.status, conflict.value.code) == (409, "run_conflict")
    with pytest.raises(LakehookClientError) as unknown:
        stack.client.start_run("weekly")
    assert (unknown.value.status, unknown.value.code) == (404, "unknown_flow")
    assert "weekly" in unknown.value.message


def test_get_run_and_list_runs_filter_by_flow_and_state(stack: Stack) -> None:
    for name in ("alpha", "beta"):
        stack.h.publish(flow(name, [job_task("only")], max_concurrent_runs=5))
    for flow_name, run_id in (("alpha", "a-1"), ("alpha", "a-2"), ("beta", "b-1")):
        stack.client.start_run(flow_name, run_id=run_id)
    stack.client.cancel_run("a-2")

    def ids(**filters: Any) -> set[str]:
        return {r["run_id"] for r in stack.client.list_runs(**filters)}

    assert ids() == {"a-1", "a-2", "b-1"}
    assert ids(flow="alpha") == {"a-1", "a-2"}
    assert ids(state="CANCELED") == {"a-2"}
    assert ids(flow="alpha", state="RUNNING") == {"a-1"}
    assert len(stack.client.list_runs(limit=1)) == 1
    assert "tasks" not in stack.client.list_runs(flow="beta")[0]  # summaries only
    (task,) = stack.client.get_run("b-1")["tasks"]
    assert task["state"] == "RUNNING" and isinstance(task["databricks_run_id"], int)
    with pytest.raises(LakehookClientError) as missing:
        stack.client.get_run("nope")
    assert (missing.value.status, missing.value.code) == (404, "not_found")


def test_get_run_without_values_and_one_tasks_value_on_its_own(stack: Stack) -> None:
    stack.h.publish(flow("one", [job_task("only")]))
    stack.client.start_run("one", run_id="v-1")
    stack.h.succeed("v-1", "only", {"rows": 7})
    assert stack.client.get_run("v-1")["tasks"][0]["value"] == {"rows": 7}
    (lean,) = stack.client.get_run("v-1", values=False)["tasks"]
    assert (lean["value"], lean["value_omitted"]) == (None, True)
    task = stack.client.get_task("v-1", "only")
    assert (task["task_key"], task["state"], task["value"]) == ("only", "SUCCESS", {"rows": 7})
    with pytest.raises(LakehookClientError) as missing:
        stack.client.get_task("v-1", "nope")
    assert missing.value.status == 404


def test_wait_returns_the_final_document_once_the_notebooks_called_back(stack: Stack) -> None:
    stack.h.publish(nightly())
    run = stack.client.start_run("nightly", run_id="r-wait")
    notebooks = stack.notebooks(lambda key: {"rows": 3})
    try:
        done = stack.client.wait("r-wait", timeout_s=10, poll_s=0.05)
    finally:
        notebooks.close()
    assert run["state"] == "RUNNING" and done["state"] in FINAL_RUN_STATES
    assert done == stack.client.get_run("r-wait")
    assert [t["state"] for t in done["tasks"]] == ["SUCCESS", "SUCCESS"]


def test_wait_times_out_with_the_last_document(stack: Stack) -> None:
    stack.h.publish(nightly())
    stack.client.start_run("nightly", run_id="r-slow")
    with pytest.raises(WaitTimeout) as timeout:
        stack.client.wait("r-slow", timeout_s=0.3, poll_s=0.05)
    err = timeout.value
    assert isinstance(err, LakehookClientError) and (err.status, err.code) == (408, "wait_timeout")
    assert err.body["run_id"] == "r-slow" and err.body["state"] == "RUNNING"
    assert "still RUNNING" in err.message


def test_cancel_run_ends_the_run_and_cancels_its_databricks_runs(stack: Stack) -> None:
    stack.h.publish(nightly())
    stack.client.start_run("nightly", run_id="r-cancel")
    doc = stack.client.cancel_run("r-cancel")
    assert doc["state"] == "CANCELED"
    assert [t["state"] for t in doc["tasks"]] == ["CANCELED", "CANCELED"]
    assert [r.canceled for r in stack.h.launcher.runs.values()] == [True]
    assert stack.client.cancel_run("r-cancel") == doc  # canceling again changes nothing


# -- standalone promises -------------------------------------------------------------------------
def test_create_promise_with_a_job_id_starts_that_job_with_the_promise_handle(stack: Stack) -> None:
    created = stack.client.create_promise("order-42", timeout_s=600, job_id=77, params={"order": 42})
    assert created["id"] == "order-42" and created["state"] == "PENDING"
    assert isinstance(created["databricks_run_id"], int)
    started = stack.h.launcher.run_for("order-42").request
    assert started.job_id == 77 and started.parameters["order"] == "42"
    handle = decode_handle(started.parameters["lakehook"])
    assert (handle.url, handle.promise_id) == (stack.url, "order-42")
    assert stack.client.create_promise("order-42", timeout_s=600, job_id=77, params={"order": 42}) == created
    assert list(stack.h.launcher.started.values()) == [1]


def test_create_promise_by_job_key_needs_a_published_job(stack: Stack) -> None:
    with pytest.raises(LakehookClientError) as unknown:
        stack.client.create_promise("p-key", job_key="job_extract")
    err = unknown.value
    assert (err.status, err.code) == (400, "bad_request")
    assert "unknown job key 'job_extract'" in err.message and "publish" in err.message
    stack.h.publish(nightly())  # the published flow maps job_extract to job id 1
    stack.client.create_promise("p-key", job_key="job_extract")
    request = stack.h.launcher.run_for("p-key").request
    assert (request.job_id, request.job_key) == (1, "job_extract")


def test_the_single_job_pattern_waits_for_notify_done(stack: Stack) -> None:
    notebooks = stack.notebooks(lambda key: {"rows": 7})
    try:
        stack.client.create_promise("single", timeout_s=600, job_id=5)
        done = stack.client.wait_promise("single", timeout_s=10, poll_s=0.05)
    finally:
        notebooks.close()
    assert (done["state"], done["value"]) == ("RESOLVED", {"rows": 7})


def test_an_operator_resolves_and_rejects_any_promise_strictly(stack: Stack) -> None:
    stack.client.create_promise("approval", timeout_s=600)
    assert stack.client.get_promise("approval")["state"] == "PENDING"
    with pytest.raises(WaitTimeout) as pending:
        stack.client.wait_promise("approval", timeout_s=0.2, poll_s=0.05)
    assert pending.value.body["state"] == "PENDING"

    resolved = stack.client.resolve("approval", {"approved_by": "ana"})
    assert (resolved["state"], resolved["value"]) == ("RESOLVED", {"approved_by": "ana"})
    assert stack.client.resolve("approval", {"approved_by": "ana"}) == resolved  # a duplicate: 200
    with pytest.raises(LakehookClientError) as conflict:
        stack.client.resolve("approval", {"approved_by": "bob"})
    assert (conflict.value.status, conflict.value.code) == (409, "already_settled")
    assert conflict.value.body["error"]["promise"]["value"] == {"approved_by": "ana"}

    stack.client.create_promise("gate", timeout_s=600)
    rejected = stack.client.reject("gate", "not approved")
    assert rejected["state"] == "REJECTED"
    assert rejected["error"] == {"type": "Rejected", "message": "not approved"}
    assert stack.client.wait_promise("gate", timeout_s=1) == rejected
    with pytest.raises(LakehookClientError) as missing:
        stack.client.get_promise("nope")
    assert missing.value.status == 404


# -- flows ---------------------------------------------------------------------------------------
def test_publish_stores_versions_and_list_flows_shows_the_latest(stack: Stack) -> None:
    manifest = nightly().to_dict()
    assert stack.client.publish(manifest) == {"flow": "nightly", "version": 1}
    assert stack.client.publish(manifest) == {"flow": "nightly", "version": 2}
    (listed,) = stack.client.list_flows()
    assert (listed["name"], listed["version"], listed["tasks"]) == ("nightly", 2, 2)
    assert stack.client.start_run("nightly", run_id="r-v2")["flow_version"] == 2
    with pytest.raises(LakehookClientError) as bad:
        stack.client.publish({**manifest, "tasks": []})
    assert (bad.value.status, bad.value.code) == (400, "bad_request")


# -- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["wrong-operator-key-0123456789", None])
def test_a_wrong_or_missing_operator_key_is_refused_with_401(stack: Stack, key: str | None) -> None:
    client = LakehookClient(stack.url, operator_key=key or "")
    with pytest.raises(LakehookClientError) as refused:
        client.list_runs()
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert stack.operator_key not in str(refused.value) and "wrong-operator" not in str(refused.value)


def test_an_unreachable_resolver_is_error_0_naming_its_url() -> None:
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(LakehookClientError) as unreachable:
        LakehookClient(url, operator_key="any-operator-key-0123456789", timeout_s=2).get_run("r-1")
    err = unreachable.value
    assert (err.status, err.code) == (0, "unreachable")
    assert url in err.message


# -- completion webhooks -------------------------------------------------------------------------
def test_the_completion_webhook_verifies_with_verify_webhook(stack: Stack, receiver: Receiver) -> None:
    stack.h.publish(nightly())
    stack.client.start_run("nightly", run_id="r-hook", notify_url=receiver.url)
    notebooks = stack.notebooks(lambda key: {"rows": 1})
    try:
        done = stack.client.wait("r-hook", timeout_s=10, poll_s=0.05)
    finally:
        notebooks.close()
    ((headers, body),) = receiver.wait(1)
    payload = verify_webhook(stack.notify_secret, headers, body)
    assert payload == {"type": "lakehook.run.finished", "data": done}
    assert headers["webhook-id"] == "msg_run_r-hook"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(stack.notify_secret, headers, body.replace(b'"SUCCESS"', b'"FAILED"', 1))
    other = "whsec_" + "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMTI="
    with pytest.raises(WebhookVerificationError):
        verify_webhook(other, headers, body)
    assert json.loads(body)["data"]["notify_url"] == receiver.url
