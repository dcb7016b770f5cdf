"""``LocalWorkspace.on_request``: every request is seen as it arrives, with its route, body and an
arrival time, before it is answered — the seam bench/latency.py times run-now with."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from lambda_resolver.local import Fault, LocalWorkspace, ManualExecutor

JOB: dict[str, Any] = {
    "parameters": [{"name": "lakehook", "default": ""}, {"name": "step", "default": ""}],
    "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Workspace/noop"}}],
}


def test_each_request_is_seen_on_arrival_with_its_route_and_body(
    make_client: Callable[..., Any], token: str
) -> None:
    seen: list[tuple[str, bytes, int]] = []
    answered_after: list[bool] = []
    with LocalWorkspace(executor=ManualExecutor(), token=token) as ws:
        job_id = ws.register_job(None, "noop", JOB, key="noop")

        def hook(route: str, body: bytes, arrived_ns: int) -> None:
            seen.append((route, body, arrived_ns))
            answered_after.append(not ws.runs())  # run-now has not run yet when the hook sees it

        ws.on_request = hook
        w = make_client(ws.url, token)
        before = time.perf_counter_ns()
        run_id = int(w.jobs.run_now(job_id=job_id, job_parameters={"step": "s7"}).run_id)
        after = time.perf_counter_ns()
        w.jobs.get_run(run_id)

    run_now = [(body, at) for route, body, at in seen if route == "jobs/run-now"]
    assert len(run_now) == 1
    body, at = run_now[0]
    assert json.loads(body)["job_parameters"] == {"step": "s7"}
    assert before < at < after  # the same clock as time.perf_counter_ns() in the caller
    assert answered_after[[r for r, _, _ in seen].index("jobs/run-now")] is True
    assert [r for r, _, _ in seen if r == "jobs/runs/get"] == ["jobs/runs/get"]


def test_faulted_and_unknown_requests_are_seen_too_and_no_hook_is_the_default(token: str) -> None:
    routes: list[str] = []
    lock = threading.Lock()

    def hook(route: str, body: bytes, arrived_ns: int) -> None:
        with lock:
            routes.append(route)

    with LocalWorkspace(executor=ManualExecutor(), token=token) as ws:
        assert ws.on_request is None
        ws.on_request = hook
        ws.faults.add("jobs/runs/get", Fault.http(503))
        headers = {"Authorization": f"Bearer {token}"}
        faulted = requests.get(f"{ws.url}/api/2.2/jobs/runs/get?run_id=1", headers=headers, timeout=5)
        unknown = requests.get(f"{ws.url}/api/2.2/jobs/nothing", headers=headers, timeout=5)
    assert (faulted.status_code, unknown.status_code) == (503, 404)
    assert routes == ["jobs/runs/get", "jobs/nothing"]
