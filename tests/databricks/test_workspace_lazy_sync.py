"""The workspace's state file syncs what answers a request (a new run, a cancel) before answering,
and writes what an executor reports (running, finished) at once without waiting for the disk:
the next process on the file sees both, and the connection is left as configured (FULL)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from lambda_resolver.local import LocalWorkspace, ManualExecutor
from lambda_resolver.local.persist import WorkspaceState

JOB: dict[str, Any] = {
    "parameters": [{"name": "lakehook", "default": ""}],
    "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Workspace/noop"}}],
}
FULL = 2  # PRAGMA synchronous answers 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def traced(ws: LocalWorkspace) -> list[str]:
    """Every statement the workspace's state connection runs from now on."""
    statements: list[str] = []
    assert ws.state is not None and ws.state._con is not None
    ws.state._con.set_trace_callback(statements.append)
    return statements


def synced_by(statements: list[str]) -> list[str]:
    """For each transaction, in order: "lazy" when it ran under synchronous=NORMAL, else "synced"."""
    out, lazy = [], False
    for s in statements:
        if s == "PRAGMA synchronous=NORMAL":
            lazy = True
        elif s == "BEGIN IMMEDIATE":
            out.append("lazy" if lazy else "synced")
        elif s.startswith("PRAGMA synchronous="):
            lazy = False
    return out


def test_run_now_and_cancel_are_synced_and_executor_reports_are_lazy(tmp_path: Path) -> None:
    path = tmp_path / "workspace.db"
    executor = ManualExecutor()
    with LocalWorkspace(executor=executor, state_path=path) as ws:
        job_id = ws.register_job(None, "noop", JOB, key="noop")
        statements = traced(ws)
        first = ws.api.run_now({"job_id": job_id, "idempotency_token": "t-1"})["run_id"]  # + running
        ws.finish(first, "SUCCESS", output={"rows": 3})
        second = ws.api.run_now({"job_id": job_id})["run_id"]  # + running
        ws.api.cancel({"run_id": second})  # the ManualExecutor ends it CANCELED at once
        assert synced_by(statements) == [
            "synced",  # run-now: the run and its token are on disk before the answer
            "lazy",  # the executor marks it running
            "lazy",  # ... and finished
            "synced",  # run-now
            "lazy",  # running
            "synced",  # runs/cancel: TERMINATING before the answer
            "lazy",  # the executor reports CANCELED
        ]
        assert ws.state is not None and ws.state._con is not None
        assert ws.state._con.execute("PRAGMA synchronous").fetchone()[0] == FULL

        # Another process opening the file right now (the first was killed) sees every change.
        other = sqlite3.connect(path)
        lives = dict(other.execute("SELECT run_id, life FROM runs").fetchall())
        doc = json.loads(other.execute("SELECT doc FROM runs WHERE run_id = ?", (first,)).fetchone()[0])
        other.close()
    assert lives == {first: "TERMINATED", second: "TERMINATED"}
    assert doc["tasks"][0]["output"] == '{"rows":3}'


def test_a_state_file_opened_normal_stays_normal(tmp_path: Path) -> None:
    state = WorkspaceState(tmp_path / "w.db", synchronous="NORMAL")
    try:
        assert state._con is not None
        statements: list[str] = []
        state._con.set_trace_callback(statements.append)
        state.add_run({"run_id": 1, "job_id": 1, "life": "PENDING", "tasks": []}, 2)
        state.save_run({"run_id": 1, "job_id": 1, "life": "RUNNING", "tasks": []}, durable=False)
        assert not any(s.startswith("PRAGMA") for s in statements)  # nothing to switch
        assert state._con.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        state.close()
