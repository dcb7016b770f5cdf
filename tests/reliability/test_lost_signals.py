"""Lost signals: the notebook never calls back, dies mid-run, or calls while the resolver is down.

- A notebook that ends without ``notify_done`` is settled from ``runs/get`` with its exit value:
  proven end to end through ``lakehook dev`` and its notebook subprocesses by
  ``tests/e2e/test_dev_stack.py::test_a_notebook_that_exits_without_calling_back_is_settled_from_its_exit_value``
  (and on the real SDK, in-process, by ``tests/databricks/test_engine_on_sdk.py``); not repeated here.
- A notebook process killed with SIGKILL mid-run (the local stack: resolver, SQLite, the loopback
  workspace running notebooks as subprocesses): its run ends FAILED, the attempt's promise is
  rejected with the run's message, and the flow goes on by its rules — downstream
  UPSTREAM_FAILED and the run FAILED, or the task's retry runs.
- The resolver down while the notebook (a real process) calls back: ``notify_done`` retries the
  refused connection and lands when a new resolver — a new store object on the same SQLite file,
  the real HTTP app — listens on the same port again; the promise is settled once, and what it
  starts starts once. Also when the resolver dies after writing the settle but before answering.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.context import Context
from lambda_resolver.core.engine import Engine
from lambda_resolver.core.ids import TokenSigner, idempotency_token
from lambda_resolver.core.models import PromiseState, RunState
from lambda_resolver.databricks import SdkLauncher
from lambda_resolver.http import Services, create_app
from lambda_resolver.http.local_server import LocalServer, _Handler
from lambda_resolver.local import LocalWorkspace, ManualExecutor
from lambda_resolver.local.stack import LocalStack
from lambda_resolver.stores.sqlite import SqliteStore

from support.e2e import REPO, free_port
from support.faults_flow import TOKEN, build_client, poll
from support.flows import flow, job_task
from support.harness import SETTINGS

# -- a notebook killed mid-run --------------------------------------------------------------------
BUNDLE = {
    "databricks.yml": """
        bundle:
          name: lost_signals
        include:
          - bundles/*.yml
        targets:
          dev:
            default: true
    """,
    "bundles/jobs.yml": """
        resources:
          jobs:
            hang:
              name: hang
              parameters:
                - {name: lakehook, default: ""}
                - {name: marker, default: ""}
              tasks:
                - task_key: main
                  notebook_task: {notebook_path: ./notebooks/hang.py}
            ok:
              name: ok
              parameters:
                - {name: lakehook, default: ""}
                - {name: label, default: ""}
              tasks:
                - task_key: main
                  notebook_task: {notebook_path: ./notebooks/ok.py}
    """,
    "bundles/flows.yml": """
        resources:
          jobs:
            killed:
              name: killed
              tags: {lakehook: flow}
              parameters: [{name: marker, default: ""}]
              tasks:
                - task_key: victim
                  run_job_task:
                    job_id: "${resources.jobs.hang.id}"
                    job_parameters: {marker: "{{job.parameters.marker}}"}
                - task_key: after
                  depends_on: [{task_key: victim}]
                  run_job_task: {job_id: "${resources.jobs.ok.id}", job_parameters: {label: after}}
            killed_retry:
              name: killed_retry
              tags: {lakehook: flow}
              parameters: [{name: marker, default: ""}]
              tasks:
                - task_key: victim
                  max_retries: 1
                  run_job_task:
                    job_id: "${resources.jobs.hang.id}"
                    job_parameters: {marker: "{{job.parameters.marker}}"}
                - task_key: after
                  depends_on: [{task_key: victim}]
                  run_job_task: {job_id: "${resources.jobs.ok.id}", job_parameters: {label: after}}
    """,
    # The first run writes its pid and hangs (to be killed); a retry finds the marker and finishes.
    "bundles/notebooks/hang.py": """
        # Databricks notebook source
        import os
        import time

        from notebook_lib import notify_done

        marker = dbutils.widgets.get("marker")
        if os.path.exists(marker):
            notify_done({"recovered": True})
        else:
            with open(marker + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(marker + ".tmp", marker)
            time.sleep(120)
            notify_done({"recovered": False})
    """,
    "bundles/notebooks/ok.py": """
        # Databricks notebook source
        from notebook_lib import notify_done

        notify_done({"label": dbutils.widgets.get("label")})
    """,
}
FAST = {  # the local stack's intervals, shorter still: the reconciler notices within a second
    "check_interval_ms": 200,
    "success_grace_ms": 300,
    "propagate_grace_ms": 500,
    "stuck_claim_ms": 2_000,
    "run_watchdog_ms": 1_000,
    "queue_poll_ms": 500,
}
KILLED = "without reporting a result"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("lost")
    for name, text in BUNDLE.items():
        path = root / "bundle" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    s = LocalStack(root / "bundle", root / "state", port=free_port(), settings=FAST, reconcile_interval_s=0.1)
    s.start()
    yield s
    s.stop()


def kill_the_notebook(marker: Path) -> int:
    """Wait for the hanging notebook to write its pid, SIGKILL that process, return the pid."""
    poll(marker.exists, 30, "the notebook's start")
    pid = int(marker.read_text())
    os.kill(pid, signal.SIGKILL)
    return pid


def final_run(stack: LocalStack, run_id: str) -> Any:
    poll(lambda: stack.engine.get_run(run_id).state.final, 30, f"the end of run {run_id}")
    return stack.engine.get_run(run_id)


def tasks_of(stack: LocalStack, run_id: str) -> dict[str, Any]:
    return {t.key: t for t in stack.store.list_tasks(run_id)}


def test_a_killed_notebook_fails_its_task_with_the_runs_message_and_its_downstream(
    stack: LocalStack, tmp_path: Path
) -> None:
    marker = tmp_path / "victim.pid"
    stack.engine.start_run("killed", run_id="killed-1", params={"marker": str(marker)})
    pid = kill_the_notebook(marker)

    run = final_run(stack, "killed-1")
    assert run.state is RunState.FAILED
    tasks = tasks_of(stack, "killed-1")
    assert {k: t.state.value for k, t in tasks.items()} == {"victim": "FAILED", "after": "UPSTREAM_FAILED"}
    p = stack.engine.get_promise("killed-1.victim.1")
    assert p.state is PromiseState.REJECTED and p.error is not None and p.databricks_run_id is not None
    dbx = stack.workspace.run(p.databricks_run_id)
    assert (dbx.life, dbx.result) == ("TERMINATED", "FAILED")
    # the promise carries the run's own message: what happened to the process, and where its log is
    assert p.error["message"] == dbx.message
    assert f"The task process killed by signal SIGKILL (9) {KILLED}" in p.error["message"]
    assert "main.log" in p.error["message"]
    assert p.error["type"] == "DatabricksRunFailed"
    assert tasks["victim"].error == p.error and tasks["victim"].attempt == 1
    assert tasks["after"].attempt == 0  # never started
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the process is gone (reaped), not left behind
    tokens = {idempotency_token("killed-1.victim.1")}
    assert {t: n for t, n in stack.workspace.runs_per_token().items() if t in tokens} == {
        t: 1 for t in tokens
    }


def test_a_killed_notebook_whose_task_has_a_retry_runs_the_retry(stack: LocalStack, tmp_path: Path) -> None:
    marker = tmp_path / "victim.pid"
    stack.engine.start_run("killed_retry", run_id="killed-2", params={"marker": str(marker)})
    kill_the_notebook(marker)

    run = final_run(stack, "killed-2")
    assert run.state is RunState.SUCCESS
    tasks = tasks_of(stack, "killed-2")
    assert {k: t.state.value for k, t in tasks.items()} == {"victim": "SUCCESS", "after": "SUCCESS"}
    assert tasks["victim"].attempt == 2 and tasks["victim"].value == {"recovered": True}
    assert tasks["after"].value == {"label": "after"}
    first = stack.engine.get_promise("killed-2.victim.1")
    assert first.state is PromiseState.REJECTED and first.error is not None
    assert KILLED in first.error["message"]
    assert first.error["message"] == stack.workspace.run(first.databricks_run_id or 0).message
    per_token = stack.workspace.runs_per_token()
    for promise_id in ("killed-2.victim.1", "killed-2.victim.2", "killed-2.after.1"):
        assert per_token[idempotency_token(promise_id)] == 1, promise_id


# -- the resolver down while the notebook calls back ------------------------------------------------
SIGNER_KEY = {"k1": b"0123456789abcdef0123456789abcdef"}
PAIR = flow("pair", [job_task("a"), job_task("b", ["a"], params={"rows": "{{tasks.a.values.rows}}"})])
NOTEBOOK = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
from notebook_lib import notify_done
print(json.dumps(notify_done({"rows": 42}, handle=sys.argv[1], timeout_s=60)), flush=True)
"""


@dataclass
class Resolver:
    """One resolver process: a store object on the SQLite file, the engine on the real SDK, and
    the real HTTP app on a loopback port."""

    server: LocalServer
    store: SqliteStore
    engine: Engine
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def settles(self, kind: str, promise_id: str) -> int:
        return sum(1 for name, f in self.events if name == kind and f.get("promise_id") == promise_id)

    def close(self) -> None:
        self.server.close()
        self.store.close()


def start_resolver(db: Path, port: int, ws: LocalWorkspace, handler: type[_Handler] = _Handler) -> Resolver:
    store = SqliteStore(db)
    signer = TokenSigner(SIGNER_KEY, "k1")
    client = build_client(ws.url)
    events: list[tuple[str, dict[str, Any]]] = []
    settings = SETTINGS._replace(callback_url=f"http://127.0.0.1:{port}")
    ctx = Context(
        store, SdkLauncher(lambda: client), signer, settings, event=lambda n, f: events.append((n, f))
    )
    engine = Engine(ctx)
    server = LocalServer(("127.0.0.1", port), create_app(Services(engine=lambda: engine, signer=signer)))
    server.RequestHandlerClass = handler
    return Resolver(server.start(), store, engine, events)


@pytest.fixture
def workspace() -> Iterator[LocalWorkspace]:
    with LocalWorkspace(executor=ManualExecutor(), token=TOKEN) as ws:
        for job_id, name, params in ((1, "job_a", ()), (2, "job_b", ("rows",))):
            spec = {"parameters": [{"name": "lakehook", "default": ""}] + [{"name": n} for n in params]}
            ws.register_job(job_id, name, spec, key=name)
        yield ws


def start_notebook(handle: str, log: Path) -> subprocess.Popen[bytes]:
    """The notebook's last cell, as a process of its own (stdout: the promise document)."""
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-c", NOTEBOOK, handle],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )


def refused_attempts(log: Path) -> int:
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(1 for line in text.splitlines() if "failed (ConnectionError" in line and "refused" in line)


def finish_notebook(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    doc: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return doc


def start_pair(resolver: Resolver, ws: LocalWorkspace, run_id: str) -> str:
    """Publish and start ``a → b``; return a's callback handle (what its notebook was given)."""
    resolver.engine.publish(PAIR)
    resolver.engine.start_run("pair", run_id=run_id)
    a = resolver.store.get_task(run_id, "a")
    assert a is not None and a.databricks_run_id is not None
    return ws.run(a.databricks_run_id).job_parameters["lakehook"]


def assert_settled_once_and_b_started_once(second: Resolver, ws: LocalWorkspace, run_id: str) -> None:
    p = second.engine.get_promise(f"{run_id}.a.1")
    assert (p.state, p.value) == (PromiseState.RESOLVED, {"rows": 42})
    assert p.idempotency_key  # the notebook's key: this settle is the notebook's call
    b = second.store.get_task(run_id, "b")
    assert b is not None and b.databricks_run_id is not None
    assert ws.run(b.databricks_run_id).job_parameters["rows"] == "42"
    tokens = {idempotency_token(f"{run_id}.{k}.1") for k in "ab"}
    assert ws.runs_per_token() == dict.fromkeys(tokens, 1)
    assert len(ws.runs()) == 2


def test_a_callback_while_the_resolver_is_down_lands_once_when_it_is_back_on_the_same_port(
    workspace: LocalWorkspace, tmp_path: Path
) -> None:
    db, port = tmp_path / "lakehook.db", free_port()
    first = start_resolver(db, port, workspace)
    handle = start_pair(first, workspace, "down")
    first.close()  # the resolver is gone: its port refuses connections

    log = tmp_path / "notebook.log"
    proc = start_notebook(handle, log)
    poll(lambda: refused_attempts(log) >= 2, 30, "two refused callbacks")
    assert proc.poll() is None  # still retrying

    second = start_resolver(db, port, workspace)  # a new process on the same file and port
    try:
        doc = finish_notebook(proc)
        assert (doc["state"], doc["value"]) == ("RESOLVED", {"rows": 42})
        assert second.settles("promise_settled", "down.a.1") == 1
        assert first.settles("promise_settled", "down.a.1") == 0
        assert_settled_once_and_b_started_once(second, workspace, "down")
        assert "accepted (HTTP 200" in log.read_text()
    finally:
        second.close()


class _DiesBeforeAnswering(_Handler):
    """The resolver process dies after the request was handled (the settle is written) and before
    the answer leaves: the connection closes without a response."""

    handled = threading.Event()

    def _write(self, answer: dict[str, Any]) -> None:
        self.close_connection = True
        type(self).handled.set()


def test_a_resolver_that_dies_after_the_settle_and_before_answering_settles_once(
    workspace: LocalWorkspace, tmp_path: Path
) -> None:
    db, port = tmp_path / "lakehook.db", free_port()
    _DiesBeforeAnswering.handled.clear()
    first = start_resolver(db, port, workspace, handler=_DiesBeforeAnswering)
    handle = start_pair(first, workspace, "dies")

    log = tmp_path / "notebook.log"
    proc = start_notebook(handle, log)
    poll(_DiesBeforeAnswering.handled.is_set, 30, "the callback reaching the resolver")
    first.close()
    assert first.settles("promise_settled", "dies.a.1") == 1  # written before the answer was lost
    poll(lambda: refused_attempts(log) >= 1, 30, "a refused re-send")

    second = start_resolver(db, port, workspace)
    try:
        doc = finish_notebook(proc)
        # the re-send carries the same Idempotency-Key: the stored settle answers it, unchanged
        assert (doc["state"], doc["value"]) == ("RESOLVED", {"rows": 42})
        assert second.settles("promise_settled", "dies.a.1") == 0
        assert second.settles("settle_duplicate", "dies.a.1") == 1
        assert_settled_once_and_b_started_once(second, workspace, "dies")
    finally:
        second.close()
