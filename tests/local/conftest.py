"""A real local workspace whose executor runs notebooks as child processes, driven over HTTP.

Jobs are triggered with plain ``requests`` against the Jobs API (databricks-sdk costs ~2 s to
import and adds nothing here); each test gets its own executor and state directory.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from lambda_resolver.local import LocalRun, LocalWorkspace, ManualExecutor
from lambda_resolver.local.subprocess_executor import SubprocessExecutor

NOTEBOOKS = Path(__file__).parent / "notebooks"
_names = itertools.count(1)


@dataclass
class Finished:
    """A finished run and the ``runs/get-output`` of each of its tasks."""

    run: LocalRun
    outputs: dict[str, dict[str, Any]]
    doc: dict[str, Any]

    @property
    def output(self) -> dict[str, Any]:
        """The output of the (last) task."""
        return self.outputs[self.run.tasks[-1].task_key]


class Jobs:
    """Registers jobs on the workspace and runs them to the end through the Jobs API."""

    def __init__(self, ws: LocalWorkspace, executor: SubprocessExecutor) -> None:
        self.ws, self.executor = ws, executor

    def register(
        self, tasks: list[dict[str, Any]], params: dict[str, str] | None = None, **settings: Any
    ) -> int:
        n = next(_names)
        declared = [{"name": k, "default": v} for k, v in {"lakehook": "", **(params or {})}.items()]
        spec = {"name": f"job_{n}", "parameters": declared, "tasks": tasks, **settings}
        return self.ws.register_job(None, f"job_{n}", spec, key=f"job_{n}")

    def start(self, job_id: int, **params: str) -> int:
        body = {"job_id": job_id, "job_parameters": params}
        resp = requests.post(f"{self.ws.url}/api/2.2/jobs/run-now", json=body, timeout=10)
        resp.raise_for_status()
        return int(resp.json()["run_id"])

    def finish(self, run_id: int, timeout: float = 15.0) -> Finished:
        run = self.ws.wait(run_id, timeout)
        outputs = {t.task_key: self.get("jobs/runs/get-output", t.run_id) for t in run.tasks}
        return Finished(run, outputs, self.get("jobs/runs/get", run_id))

    def run(
        self,
        tasks: list[dict[str, Any]],
        params: dict[str, str] | None = None,
        *,
        settings: dict[str, Any] | None = None,
        **given: str,
    ) -> Finished:
        """Register a job, run it with ``given`` job parameters, wait for the end."""
        return self.finish(self.start(self.register(tasks, params, **(settings or {})), **given))

    @staticmethod
    def notebook(
        name: str, key: str = "main", base_parameters: dict[str, str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A notebook task for ``tests/local/notebooks/<name>``."""
        body: dict[str, Any] = {"notebook_path": str(NOTEBOOKS / name)}
        if base_parameters is not None:
            body["base_parameters"] = base_parameters
        return {"task_key": key, "notebook_task": body, **extra}

    @staticmethod
    def script(
        name: str, key: str = "main", parameters: list[str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A spark_python_task for ``tests/local/notebooks/<name>``."""
        body = {"python_file": str(NOTEBOOKS / name), "parameters": parameters or []}
        return {"task_key": key, "spark_python_task": body, **extra}

    def get(self, route: str, run_id: int) -> dict[str, Any]:
        resp = requests.get(f"{self.ws.url}/api/2.2/{route}", params={"run_id": run_id}, timeout=10)
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        return body


@pytest.fixture(scope="session")
def local_workspace() -> Iterator[LocalWorkspace]:
    with LocalWorkspace(executor=ManualExecutor()) as ws:
        yield ws


@pytest.fixture
def make_jobs(local_workspace: LocalWorkspace, tmp_path: Path) -> Iterator[Callable[..., Jobs]]:
    """``make_jobs(**executor_kwargs)``: a fresh SubprocessExecutor on the session's workspace."""
    made: list[SubprocessExecutor] = []

    def make(**kwargs: Any) -> Jobs:
        kwargs.setdefault("kill_grace_s", 1.0)
        executor = SubprocessExecutor(NOTEBOOKS, tmp_path / "state", **kwargs)
        made.append(executor)
        local_workspace.executor = executor
        return Jobs(local_workspace, executor)

    yield make
    for executor in made:
        executor.close()


@pytest.fixture
def jobs(make_jobs: Callable[..., Jobs]) -> Jobs:
    return make_jobs()


class Resolver:
    """A loopback stand-in for the resolver's callback door: records every POST, answers 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []  # (path, Authorization, JSON body)
        self.got = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls.append((self.path, self.headers.get("Authorization", ""), json.loads(raw)))
                outer.got.set()
                data = json.dumps({"id": "p", "state": "RESOLVED"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


@pytest.fixture
def resolver() -> Iterator[Resolver]:
    r = Resolver()
    yield r
    r.server.shutdown()
    r.server.server_close()
