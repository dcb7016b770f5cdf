"""A flow runs end to end through the HTTP API: publish, start, settle every task through the
callback door with the token its notebook received, read the run document."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lambda_resolver.core.ids import idempotency_token
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.http.models import PromiseDocument
from lambda_resolver.http.operator_models import RunDocument
from notebook_lib.handle import decode_handle

from support.flows import external_task, flow, job_task
from support.harness import SETTINGS, Harness

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def settle_all(client: Any, h: Harness, values: dict[str, Any]) -> list[str]:
    """Play the notebooks: resolve each launched, unsettled task with the token it was given."""
    done: list[str] = []
    seen: set[str] = set()
    while True:
        fresh = [r for r in h.launcher.runs.values() if r.request.promise_id not in seen]
        if not fresh:
            return done
        for run in fresh:
            seen.add(run.request.promise_id)
            handle = decode_handle(run.request.parameters["lakehook"])
            key = handle.promise_id.split(".")[-2]
            reply = client.post(
                f"/v1/promises/{handle.promise_id}/resolve",
                {"value": values[key]},
                token=handle.token,
                headers={"Idempotency-Key": f"nb-{handle.promise_id}"},
            )
            assert reply.status == 200, reply.text
            assert reply.json["state"] == "RESOLVED"
            done.append(key)


def run_nightly(client: Any, h: Harness, manifest: FlowManifest) -> None:
    published = client.post("/v1/flows", manifest.to_dict(), operator=True)
    assert (published.status, published.json) == (201, {"flow": "nightly", "version": 1})

    started = client.post(
        "/v1/runs",
        {"flow": "nightly", "run_id": "r-2026-11-23", "params": {"run_date": "2026-11-23"}},
        operator=True,
    )
    assert started.status == 201, started.text
    assert [t["state"] for t in started.json["tasks"]] == ["RUNNING", "RUNNING", "WAITING", "WAITING"]

    values = {"extract_a": {"rows": 10}, "extract_b": {"rows": 5}, "combine": "ok", "report": None}
    assert settle_all(client, h, values) == ["extract_a", "extract_b", "combine", "report"]

    # What Databricks was asked to run: the deployed job ids, the substituted parameters, a
    # handle that calls back here for that attempt's promise, an idempotency token ≤ 64.
    requests = {r.request.job_key: r.request for r in h.launcher.runs.values()}
    assert {k: r.job_id for k, r in requests.items()} == {
        "job_extract_a": 1,
        "job_extract_b": 2,
        "job_combine": 3,
        "job_report": 4,
    }
    params = {k: {p: v for p, v in r.parameters.items() if p != "lakehook"} for k, r in requests.items()}
    assert params["job_extract_a"] == {"run_date": "2026-11-23"}
    assert params["job_combine"] == {"rows_a": "10", "run": "r-2026-11-23"}
    for request in requests.values():
        handle = decode_handle(request.parameters["lakehook"])
        assert handle.url == SETTINGS.callback_url
        assert handle.promise_id == request.promise_id
        assert len(request.idempotency_token) <= 64
        assert request.idempotency_token == idempotency_token(request.promise_id)
    assert h.launcher.duplicates == {}

    doc = client.get("/v1/runs/r-2026-11-23", operator=True)
    assert doc.status == 200
    run = doc.json
    RunDocument.model_validate(run)
    assert {k: run[k] for k in ("run_id", "flow", "flow_version", "state", "params")} == {
        "run_id": "r-2026-11-23",
        "flow": "nightly",
        "flow_version": 1,
        "state": "SUCCESS",
        "params": {"run_date": "2026-11-23"},
    }
    assert ISO_MS.match(run["created_at"]) and ISO_MS.match(run["ended_at"])
    assert "notify_url" not in run
    assert [t["task_key"] for t in run["tasks"]] == ["extract_a", "extract_b", "combine", "report"]
    for task in run["tasks"]:
        assert set(task) == {
            "task_key", "state", "attempt", "promise_id", "value", "error",
            "databricks_run_id", "run_page_url", "triggered_at", "settled_at",
        }  # fmt: skip
        assert task["state"] == "SUCCESS" and task["attempt"] == 1 and task["error"] is None
        assert task["value"] == values[task["task_key"]]
        assert task["promise_id"] == f"r-2026-11-23.{task['task_key']}.1"
        dbx = h.launcher.run_for(task["promise_id"])
        assert task["databricks_run_id"] == dbx.run_id
        assert task["run_page_url"].endswith(f"/jobs/runs/{dbx.run_id}")
        assert ISO_MS.match(task["triggered_at"]) and ISO_MS.match(task["settled_at"])

    again = client.post(
        "/v1/runs",
        {"flow": "nightly", "run_id": "r-2026-11-23", "params": {"run_date": "2026-11-23"}},
        operator=True,
    )
    assert (again.status, again.json) == (200, run)  # the same start is the same run

    listed = client.get("/v1/runs?flow=nightly&state=SUCCESS&limit=5", operator=True)
    assert [r["run_id"] for r in listed.json["runs"]] == ["r-2026-11-23"]
    assert "tasks" not in listed.json["runs"][0]


def test_a_flow_runs_end_to_end_over_http_on_sqlite(
    h: Harness, client: Any, nightly_flow: FlowManifest
) -> None:
    run_nightly(client, h, nightly_flow)


def test_a_flow_runs_end_to_end_over_http_on_dynamodb(
    dynamodb_harness: Harness, make_client: Any, nightly_flow: FlowManifest
) -> None:
    run_nightly(make_client(harness=dynamodb_harness), dynamodb_harness, nightly_flow)


def test_a_failed_task_is_rejected_with_its_error_and_fails_the_run(h: Harness, client: Any) -> None:
    h.publish(flow("one", [job_task("only")]))
    client.post("/v1/runs", {"flow": "one", "run_id": "r1"}, operator=True)
    handle = decode_handle(h.params_of("r1", "only")["lakehook"])
    error = {"type": "ValueError", "message": "bad rows", "traceback": "Traceback ...\nValueError: bad rows"}
    reply = client.post(f"/v1/promises/{handle.promise_id}/reject", {"error": error}, token=handle.token)
    assert reply.status == 200
    assert (reply.json["state"], reply.json["error"]) == ("REJECTED", error)
    run = client.get("/v1/runs/r1", operator=True).json
    assert run["state"] == "FAILED"
    assert run["tasks"][0]["state"] == "FAILED"


def test_a_heartbeat_pushes_the_deadline_out(h: Harness, client: Any) -> None:
    h.publish(flow("one", [job_task("only")]))
    client.post("/v1/runs", {"flow": "one", "run_id": "r1"}, operator=True)
    handle = decode_handle(h.params_of("r1", "only")["lakehook"])
    before = client.get(f"/v1/promises/{handle.promise_id}", operator=True).json["timeout_at"]
    h.clock.advance(600_000)
    beat = client.post(
        f"/v1/promises/{handle.promise_id}/heartbeat", {"extend_s": 7200.5}, token=handle.token
    )
    assert beat.status == 200
    assert beat.json["timeout_at"] > before
    empty = client.request("POST", f"/v1/promises/{handle.promise_id}/heartbeat", token=handle.token)
    assert empty.status == 200  # no body at all: keep the promise's own timeout span


def test_an_operator_settles_an_external_gate_through_the_callback_door(h: Harness, client: Any) -> None:
    h.publish(flow("gated", [external_task("approve"), job_task("ship", ["approve"])]))
    client.post("/v1/runs", {"flow": "gated", "run_id": "g1"}, operator=True)
    gate = client.get("/v1/runs/g1", operator=True).json["tasks"][0]
    assert gate["state"] == "RUNNING" and gate["databricks_run_id"] is None
    reply = client.post(
        f"/v1/promises/{gate['promise_id']}/resolve", {"value": "approved by ops"}, operator=True
    )
    assert reply.status == 200
    assert [t["state"] for t in client.get("/v1/runs/g1", operator=True).json["tasks"]] == [
        "SUCCESS",
        "RUNNING",
    ]


def test_cancel_stops_the_run_and_its_databricks_runs(
    h: Harness, client: Any, nightly_flow: FlowManifest
) -> None:
    h.publish(nightly_flow)
    client.post("/v1/runs", {"flow": "nightly", "run_id": "c1"}, operator=True)
    reply = client.post("/v1/runs/c1/cancel", operator=True)
    assert reply.status == 200
    assert reply.json["state"] == "CANCELED"
    assert all(r.canceled for r in h.launcher.runs.values())


def test_a_standalone_promise_starts_its_job_by_bundle_key(
    h: Harness, client: Any, nightly_flow: FlowManifest
) -> None:
    h.publish(nightly_flow)  # publishing makes job_report's deployed id (4) known
    body = {"id": "order-42", "timeout_s": 600, "job": {"job_key": "job_report", "params": {"day": 3}}}
    created = client.post("/v1/promises", body, operator=True)
    assert created.status == 201, created.text
    PromiseDocument.model_validate(created.json)
    run = h.launcher.run_for("order-42")
    assert (run.request.job_id, run.request.parameters["day"]) == (4, "3")
    assert created.json["databricks_run_id"] == run.run_id
    assert client.post("/v1/promises", body, operator=True).status == 200  # idempotent by id

    handle = decode_handle(run.request.parameters["lakehook"])
    done = client.post(
        "/v1/promises/order-42/resolve", {"value": {"table": "main.sales.daily"}}, token=handle.token
    )
    assert done.json["value"] == {"table": "main.sales.daily"}
    assert client.get("/v1/promises/order-42", operator=True).json == done.json

    unknown = client.post("/v1/promises", {"id": "p2", "job": {"job_key": "nope"}}, operator=True)
    assert unknown.status == 400 and "publish" in unknown.json["error"]["message"]


def test_a_databricks_notification_settles_the_task_from_the_reread_run(
    h: Harness, client: Any, webhook_auth: dict[str, str]
) -> None:
    h.publish(flow("one", [job_task("only")]))
    client.post("/v1/runs", {"flow": "one", "run_id": "w1"}, operator=True)
    dbx = h.launcher.run_for("w1.only.1")
    h.launcher.end(dbx.run_id, "FAILED", message="cell 3 raised")
    auth = webhook_auth
    payload = {
        "event_type": "jobs.on_failure",
        "workspace_id": "1234",
        "run": {"run_id": "999999", "parent_run_id": str(dbx.run_id)},  # a task-level event
        "job": {"job_id": 1, "name": "only"},
        "task": {"task_key": "main"},
    }
    reply = client.post("/v1/webhooks/databricks", payload, headers=auth)
    assert (reply.status, reply.json) == (202, {"accepted": True})  # no data in the answer
    promise = client.get("/v1/promises/w1.only.1", operator=True).json
    assert promise["state"] == "REJECTED"
    assert "cell 3 raised" in promise["error"]["message"]
    unknown = client.post(
        "/v1/webhooks/databricks", {"run": {"run_id": 5}, "job": {"job_id": 9}}, headers=auth
    )
    assert (unknown.status, unknown.json) == (202, {"accepted": True})


def test_flows_are_listed_and_read_back(client: Any, nightly_flow: FlowManifest) -> None:
    client.post("/v1/flows", nightly_flow.to_dict(), operator=True)
    second = client.post("/v1/flows", nightly_flow.to_dict(), operator=True)
    assert second.json == {"flow": "nightly", "version": 2}
    flows = client.get("/v1/flows", operator=True).json["flows"]
    assert flows == [
        {
            "name": "nightly",
            "version": 2,
            "display_name": "",
            "tasks": 4,
            "jobs": 4,
            "parameters": {"run_date": ""},
            "source": "",
        }
    ]
    assert client.get("/v1/flows/nightly", operator=True).json == nightly_flow.with_version(2).to_dict()
    assert client.get("/v1/flows/nightly?version=1", operator=True).json["version"] == 1
    assert client.get("/v1/flows/other", operator=True).status == 404


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["tasks"].clear(), "no tasks"),
        (lambda d: d["tasks"][2]["depends_on"].append({"task_key": "ghost"}), "unknown task 'ghost'"),
        (lambda d: d["jobs"][0].update(job_id=None), "has no job_id"),
        (lambda d: d["tasks"][0]["depends_on"].append({"task_key": "report"}), "cycle"),
        (lambda d: d.pop("tasks"), "missing field"),
    ],
)
def test_a_broken_manifest_is_refused(
    client: Any, nightly_flow: FlowManifest, change: Any, problem: str
) -> None:
    doc = nightly_flow.to_dict()
    change(doc)
    reply = client.post("/v1/flows", doc, operator=True)
    assert reply.status == 400
    assert problem in reply.json["error"]["message"]
