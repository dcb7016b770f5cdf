"""A for_each task over HTTP: each iteration's notebook settles its own promise with its own
token through the callback door; the run document counts iterations by state; the task's
document lists them page by page."""

from __future__ import annotations

import json
from typing import Any

from notebook_lib.handle import decode_handle

from support.flows import flow, for_each_task
from support.harness import Harness


def test_iterations_call_back_with_their_own_handle_and_are_listed_page_by_page(
    h: Harness, client: Any
) -> None:
    h.publish(flow("loop", [for_each_task("fe", json.dumps([f"t{n}" for n in range(5)]), concurrency=2)]))
    client.post("/v1/runs", {"flow": "loop", "run_id": "r1"}, operator=True)
    handles = [decode_handle(r.request.parameters["lakehook"]) for r in h.launcher.runs.values()]
    assert [x.promise_id for x in handles] == ["r1.fe.1.0", "r1.fe.1.1"]
    # a token settles its own iteration only
    wrong = client.post("/v1/promises/r1.fe.1.1/resolve", {"value": 1}, token=handles[0].token)
    assert wrong.status in (401, 403)
    ok = client.post("/v1/promises/r1.fe.1.0/resolve", {"value": {"rows": 3}}, token=handles[0].token)
    assert ok.status == 200 and ok.json["state"] == "RESOLVED"

    doc = client.get("/v1/runs/r1", operator=True).json
    assert doc["tasks"][0]["iterations"] == {"total": 5, "PENDING": 2, "RUNNING": 2, "SUCCESS": 1}

    first = client.get("/v1/runs/r1/tasks/fe?limit=2", operator=True).json
    assert [(i["index"], i["state"], i["input"]) for i in first["items"]] == [
        (0, "SUCCESS", "t0"),
        (1, "RUNNING", "t1"),
    ]
    assert first["items"][0]["value"] == {"rows": 3} and first["items"][1]["databricks_run_id"] is not None
    rest = client.get(f"/v1/runs/r1/tasks/fe?limit=2&cursor={first['next_cursor']}", operator=True).json
    assert [(i["index"], i["state"]) for i in rest["items"]] == [(2, "RUNNING"), (3, "PENDING")]
    last = client.get(f"/v1/runs/r1/tasks/fe?limit=2&cursor={rest['next_cursor']}", operator=True).json
    assert [i["index"] for i in last["items"]] == [4] and last["next_cursor"] is None
    assert client.get("/v1/runs/r1/tasks/fe?cursor=abc", operator=True).status == 400


def test_the_openapi_document_describes_iterations(client: Any) -> None:
    schema = client.get("/openapi.json").json
    task = schema["components"]["schemas"]["TaskDocument"]["properties"]
    assert {"iterations", "items", "next_cursor"} <= set(task)
    assert "IterationDocument" in schema["components"]["schemas"]
