"""A local workspace with a state file outlives its process: tokens, runs, job ids and outputs
survive a clean stop, an abandoned object and a SIGKILL; interrupted runs are executed again
(or end INTERNAL_ERROR with ``resume=False``). Real SDK, real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.local import CallbackExecutor, Executor, LocalRun, LocalWorkspace, ManualExecutor
from lambda_resolver.local.jobs_api import STOPPED_MESSAGE
from lambda_resolver.local.persist import StateClosedError, WorkspaceState

ROOT = Path(__file__).resolve().parents[2]
MakeClient = Callable[..., Any]
OpenWorkspace = Callable[..., LocalWorkspace]

CHILD: dict[str, Any] = {
    "parameters": [{"name": "lakehook", "default": ""}, {"name": "day", "default": "mon"}],
    "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Workspace/child"}}],
}
TWO_TASKS: dict[str, Any] = {
    "parameters": [{"name": "lakehook", "default": ""}],
    "tasks": [
        {"task_key": "a", "notebook_task": {"notebook_path": "/Workspace/a"}},
        {
            "task_key": "b",
            "depends_on": [{"task_key": "a"}],
            "notebook_task": {"notebook_path": "/Workspace/b"},
        },
    ],
}


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / ".lakehook" / "workspace.db"


@pytest.fixture
def open_ws(state_file: Path, token: str) -> Iterator[OpenWorkspace]:
    """``open_ws(executor, resume=True)``: a started workspace on the test's state file; every
    one still open is closed at teardown."""
    opened: list[LocalWorkspace] = []

    def open_(executor: Executor | None = None, *, resume: bool = True) -> LocalWorkspace:
        ws = LocalWorkspace(
            executor=executor or ManualExecutor(), token=token, state_path=state_file, resume=resume
        )
        opened.append(ws)
        return ws.start()

    yield open_
    for ws in opened:
        ws.close()


class Recorder(CallbackExecutor):
    """A CallbackExecutor that records what it was asked to start."""

    def __init__(self, fn: Callable[[LocalRun], Any] = lambda run: "done") -> None:
        super().__init__(fn)
        self.starts: list[tuple[int, str | None, dict[str, str], list[int]]] = []

    def start(self, run: LocalRun) -> None:
        self.starts.append(
            (run.run_id, run.idempotency_token, dict(run.job_parameters), [t.run_id for t in run.tasks])
        )
        super().start(run)


class DeafExecutor:
    """Starts runs (RUNNING) and ignores cancels: a run stays TERMINATING."""

    def start(self, run: LocalRun) -> None:
        run.mark_running()

    def cancel(self, run: LocalRun) -> None:
        pass


def _ids_of(run: LocalRun) -> set[int]:
    return {run.run_id, *(t.run_id for t in run.tasks)}


# -- tokens, ids and jobs across restarts ----------------------------------------------------------
def test_a_known_token_answers_the_same_run_after_a_restart(
    open_ws: OpenWorkspace, make_client: MakeClient
) -> None:
    ws1 = open_ws()
    job = ws1.register_job(None, "child", CHILD, key="child")
    first = make_client(ws1.url).jobs.run_now(
        job_id=job, job_parameters={"lakehook": "h1"}, idempotency_token="tok-T"
    )
    old_ids = _ids_of(ws1.run(first.run_id))
    ws1.close()

    ws2 = open_ws()
    client = make_client(ws2.url)
    assert ws2.register_job(None, "child", CHILD, key="child") == job  # published flows stay valid
    other = ws2.register_job(None, "other", CHILD, key="other")
    assert other > job
    again = client.jobs.run_now(job_id=job, job_parameters={"lakehook": "h1"}, idempotency_token="tok-T")
    assert again.run_id == first.run_id
    assert ws2.runs_per_token()["tok-T"] == 1
    assert ws2.api.run_now_calls["tok-T"] == 1  # answered from the file, nothing started
    seen = client.jobs.get_run(first.run_id)
    assert seen.job_id == job
    assert {p.name: p.value for p in seen.job_parameters} == {"lakehook": "h1", "day": "mon"}
    assert client.jobs.get(job).settings.name == "child"

    fresh = client.jobs.run_now(job_id=other, idempotency_token="tok-U")
    new_ids = _ids_of(ws2.run(fresh.run_id))
    assert not new_ids & old_ids and min(new_ids) > max(old_ids)
    assert ws2.runs_per_token() == {"tok-T": 1, "tok-U": 1}


def test_an_abandoned_workspace_without_a_clean_stop_loses_nothing(
    open_ws: OpenWorkspace, make_client: MakeClient
) -> None:
    """A crash in-process: the first workspace is never stopped nor closed."""
    ws1 = open_ws()
    job = ws1.register_job(None, "child", CHILD, key="child")
    first = make_client(ws1.url).jobs.run_now(job_id=job, idempotency_token="tok-crash")

    ws2 = open_ws(resume=False)
    assert ws2.url != ws1.url
    again = make_client(ws2.url).jobs.run_now(job_id=job, idempotency_token="tok-crash")
    assert again.run_id == first.run_id
    assert ws2.runs_per_token() == {"tok-crash": 1}
    assert ws2.job_ids() == {"child": job}


# -- runs left active ---------------------------------------------------------------------------------
def test_an_interrupted_run_is_executed_again_with_the_same_ids_and_parameters(
    open_ws: OpenWorkspace, make_client: MakeClient
) -> None:
    ws1 = open_ws()
    job = ws1.register_job(None, "child", CHILD, key="child")
    run_id = (
        make_client(ws1.url)
        .jobs.run_now(
            job_id=job, job_parameters={"lakehook": "h2", "day": "tue"}, idempotency_token="tok-again"
        )
        .run_id
    )
    task_ids = [t.run_id for t in ws1.run(run_id).tasks]
    assert ws1.run(run_id).life == "RUNNING"
    ws1.close()

    rec = Recorder(lambda run: {"day": run.job_parameters["day"]})
    ws2 = open_ws(rec)
    run = ws2.wait(run_id)
    assert rec.starts == [(run_id, "tok-again", {"lakehook": "h2", "day": "tue"}, task_ids)]
    assert (run.life, run.result) == ("TERMINATED", "SUCCESS")
    client = make_client(ws2.url)
    assert client.jobs.get_run_output(task_ids[0]).notebook_output.result == '{"day":"tue"}'
    assert client.jobs.run_now(job_id=job, idempotency_token="tok-again").run_id == run_id
    assert ws2.runs_per_token() == {"tok-again": 1}
    assert len(rec.starts) == 1


def test_a_run_is_executed_again_from_the_top_even_when_some_tasks_had_ended(
    open_ws: OpenWorkspace,
) -> None:
    ws1 = open_ws()
    job = ws1.register_job(None, "two", TWO_TASKS, key="two")
    run_id = ws1.api.run_now({"job_id": job, "idempotency_token": "tok-two"})["run_id"]
    ws1.finish(run_id, "SUCCESS", task_key="a", output="old")
    ws1.close()

    seen: list[tuple[str, str | None]] = []

    def notebook(run: LocalRun) -> None:
        seen.extend((t.life, t.output) for t in run.tasks)
        run.finish("SUCCESS", task_key="a", output="new")
        run.finish("SUCCESS", task_key="b", output="b-out")

    ws2 = open_ws(Recorder(notebook))
    run = ws2.wait(run_id)
    assert seen == [("RUNNING", None), ("RUNNING", None)]  # a clean slate, not a half-done run
    assert [t.output for t in run.tasks] == ["new", "b-out"]
    assert run.result == "SUCCESS"


def test_with_resume_false_an_interrupted_run_ends_internal_error(
    open_ws: OpenWorkspace, make_client: MakeClient
) -> None:
    ws1 = open_ws()
    job = ws1.register_job(None, "child", CHILD, key="child")
    run_id = ws1.api.run_now({"job_id": job, "idempotency_token": "tok-stop"})["run_id"]
    ws1.close()

    rec = Recorder()
    ws2 = open_ws(rec, resume=False)
    run = ws2.run(run_id)
    assert (run.life, run.result, run.message) == ("INTERNAL_ERROR", "FAILED", STOPPED_MESSAGE)
    state = make_client(ws2.url).jobs.get_run(run_id).state
    assert state.life_cycle_state.value == "INTERNAL_ERROR"
    assert state.state_message == STOPPED_MESSAGE
    assert rec.starts == []
    ws2.close()

    rec3 = Recorder()
    ws3 = open_ws(rec3)  # the ending was recorded: nothing left to resume
    assert ws3.run(run_id).life == "INTERNAL_ERROR" and rec3.starts == []


def test_a_run_being_canceled_when_the_process_died_ends_canceled(open_ws: OpenWorkspace) -> None:
    ws1 = open_ws(DeafExecutor())
    job = ws1.register_job(None, "child", CHILD, key="child")
    run_id = ws1.api.run_now({"job_id": job, "idempotency_token": "tok-cancel"})["run_id"]
    ws1.api.cancel({"run_id": run_id})
    assert ws1.run(run_id).life == "TERMINATING"
    ws1.close()

    rec = Recorder()
    ws2 = open_ws(rec)
    run = ws2.run(run_id)
    assert (run.life, run.result) == ("TERMINATED", "CANCELED")
    assert rec.starts == []


# -- ended runs -----------------------------------------------------------------------------------------
def test_a_finished_runs_results_survive_a_restart(open_ws: OpenWorkspace, make_client: MakeClient) -> None:
    def notebook(run: LocalRun) -> Any:
        if run.job_parameters["lakehook"] == "boom":
            raise ZeroDivisionError("division by zero")
        return {"rows": 3}

    rec1 = Recorder(notebook)
    ws1 = open_ws(rec1)
    job = ws1.register_job(None, "child", CHILD, key="child")
    ok = ws1.api.run_now({"job_id": job, "job_parameters": {"lakehook": "ok"}, "idempotency_token": "t-ok"})
    bad = ws1.api.run_now(
        {"job_id": job, "job_parameters": {"lakehook": "boom"}, "idempotency_token": "t-bad"}
    )
    ws1.wait(ok["run_id"])
    ws1.wait(bad["run_id"])
    rec1.join()
    client1 = make_client(ws1.url)
    before = {r: client1.jobs.get_run(r).as_dict() for r in (ok["run_id"], bad["run_id"])}
    ok_task, bad_task = ws1.run(ok["run_id"]).tasks[0].run_id, ws1.run(bad["run_id"]).tasks[0].run_id
    ws1.close()

    rec2 = Recorder()
    ws2 = open_ws(rec2)
    client = make_client(ws2.url)
    assert rec2.starts == []
    for run_id, doc in before.items():
        after = client.jobs.get_run(run_id).as_dict()
        for doc_ in (doc, after):  # the URLs name the workspace's port
            doc_.pop("run_page_url")
            for t in doc_["tasks"]:
                t.pop("run_page_url")
        assert after == doc
    assert client.jobs.get_run_output(ok_task).notebook_output.result == '{"rows":3}'
    failed = client.jobs.get_run_output(bad_task)
    assert failed.error == "ZeroDivisionError: division by zero"
    assert failed.metadata.state.result_state.value == "FAILED"


# -- the file -----------------------------------------------------------------------------------------
def test_nothing_new_is_acknowledged_once_the_state_is_closed(open_ws: OpenWorkspace) -> None:
    ws = open_ws()
    job = ws.register_job(None, "child", CHILD, key="child")
    run_id = ws.api.run_now({"job_id": job, "idempotency_token": "tok-1"})["run_id"]
    ws.close()
    with pytest.raises(StateClosedError):
        ws.api.run_now({"job_id": job, "idempotency_token": "tok-late"})
    with pytest.raises(StateClosedError):
        ws.register_job(None, "late", CHILD, key="late")
    assert "tok-late" not in ws.runs_per_token() and "late" not in ws.job_ids()
    assert ws.finish(run_id, "SUCCESS")  # what a run reports now is not recorded…
    with pytest.raises(RuntimeError, match="closed"):
        ws.start()

    rec = Recorder()
    ws2 = open_ws(rec)  # …so the next workspace executes it again
    assert [s[0] for s in rec.starts] == [run_id]
    assert ws2.wait(run_id).result == "SUCCESS"


def test_concurrent_run_nows_on_a_persistent_workspace_start_one_run_per_token(
    open_ws: OpenWorkspace, make_client: MakeClient
) -> None:
    ws = open_ws()
    job = ws.register_job(None, "child", CHILD, key="child")
    client = make_client(ws.url)
    run_ids: list[int] = []

    def fire(i: int) -> None:
        run_ids.append(client.jobs.run_now(job_id=job, idempotency_token=f"tok-{i % 3}").run_id)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(run_ids)) == 3
    ws.close()
    ws2 = open_ws(resume=False)
    assert ws2.runs_per_token() == {"tok-0": 1, "tok-1": 1, "tok-2": 1}
    assert sorted(r.run_id for r in ws2.runs()) == sorted(set(run_ids))


def test_without_a_state_path_nothing_touches_sqlite(tmp_path: Path) -> None:
    with LocalWorkspace(executor=ManualExecutor()) as ws:
        ws.register_job(None, "child", CHILD, key="child")
        assert ws.state is None
    assert list(tmp_path.iterdir()) == []


def test_a_state_file_from_a_newer_version_is_refused(state_file: Path) -> None:
    WorkspaceState(state_file).close()
    import sqlite3

    con = sqlite3.connect(state_file)
    con.execute("PRAGMA user_version=99")
    con.close()
    with pytest.raises(ValueError, match="newer"):
        LocalWorkspace(executor=ManualExecutor(), state_path=state_file)


# -- a real kill ------------------------------------------------------------------------------------
_SERVE = """
import json, sys, time
from lambda_resolver.local import LocalWorkspace, ManualExecutor
ws = LocalWorkspace(executor=ManualExecutor(), token=sys.argv[2], state_path=sys.argv[1]).start()
job = ws.register_job(None, "child", json.loads(sys.argv[3]), key="child")
print(json.dumps({"url": ws.url, "job": job}), flush=True)
time.sleep(120)
"""


def test_the_run_and_its_token_survive_a_sigkill_right_after_run_now_answered(
    state_file: Path, token: str, make_client: MakeClient, open_ws: OpenWorkspace
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(state_file), token, json.dumps(CHILD)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        waiter = make_client(ready["url"]).jobs.run_now(
            job_id=ready["job"], job_parameters={"lakehook": "h9"}, idempotency_token="tok-kill"
        )
        proc.kill()  # SIGKILL, the moment the answer arrived
        assert proc.wait(10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    rec = Recorder()
    ws = open_ws(rec)
    run = ws.run(waiter.run_id)
    assert (run.idempotency_token, run.job_id) == ("tok-kill", ready["job"])
    assert run.job_parameters == {"lakehook": "h9", "day": "mon"}
    assert ws.runs_per_token() == {"tok-kill": 1}
    assert ws.register_job(None, "child", CHILD, key="child") == ready["job"]
    again = make_client(ws.url).jobs.run_now(job_id=ready["job"], idempotency_token="tok-kill")
    assert again.run_id == waiter.run_id
    assert [s[0] for s in rec.starts] == [waiter.run_id]  # it was RUNNING: executed again
    assert ws.wait(waiter.run_id).result == "SUCCESS"
