"""Fixtures for the notebook helper's tests: a real, scripted HTTP resolver on loopback.

The server answers each request with the next scripted reply (then with ``fallback``) and
records what it received. A reply is an int status (a 2xx answers with a promise document built
from the request, anything else with an ``{"error": ...}`` body), a dict ``{"status", "body",
"headers"}``, ``"drop"`` (close the connection without answering) or ``"stall"`` (answer only
after ``stall_s`` seconds, past the client's read timeout).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok.SECRET-7f3a9c1e5b2d4680aa"  # distinctive, so a leak is easy to find
PROMISE_ID = "p-1"


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class ScriptedServer:
    """A loopback HTTP server whose replies each test scripts."""

    port: int = 0
    fallback: Any = 200
    stall_s: float = 1.0
    replies: list[Any] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Any) -> None:
        self.replies.extend(replies)

    def start(self) -> ScriptedServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                server.requests.append(
                    Received("POST", self.path, dict(self.headers.items()), body, time.monotonic())
                )
                reply = server.replies.pop(0) if server.replies else server.fallback
                if reply == "drop":
                    self.close_connection = True
                    return
                if reply == "stall":
                    time.sleep(server.stall_s)
                    reply = 200
                status, doc, headers = server.render(reply, self.path, body)
                data = json.dumps(doc).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (read timeout): that was the point

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._httpd = Server(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, args=(0.005,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def render(self, reply: Any, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        if isinstance(reply, dict):
            status = reply.get("status", 200)
            doc = reply.get("body")
            if doc is None:
                doc = self.render(status, path, body)[1]
            return status, doc, reply.get("headers", {})
        if 200 <= reply < 300:
            return reply, promise_doc(path, body), {}
        return reply, {"error": {"code": f"status_{reply}", "message": f"scripted {reply}"}}, {}


def promise_doc(path: str, body: Any) -> dict[str, Any]:
    """The promise document a resolver answers after ``path`` (resolve, reject or heartbeat)."""
    promise_id, action = path.split("/")[-2:]
    state = {"resolve": "RESOLVED", "reject": "REJECTED"}.get(action, "PENDING")
    body = body or {}
    return {
        "id": promise_id,
        "state": state,
        "value": body.get("value"),
        "error": body.get("error"),
        "created_at": "2026-11-23T10:00:00.000Z",
        "settled_at": None if state == "PENDING" else "2026-11-23T10:00:01.000Z",
        "timeout_at": "2026-11-23T11:00:00.000Z",
    }


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def make_server() -> Iterator[Any]:
    """Build a not-yet-started server (``port=`` to choose one); stopped after the test."""
    made: list[ScriptedServer] = []

    def make(**kwargs: Any) -> ScriptedServer:
        made.append(ScriptedServer(**kwargs))
        return made[-1]

    yield make
    for srv in made:
        srv.stop()


@pytest.fixture
def free_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def handle(server: ScriptedServer) -> str:
    from notebook_lib import encode_handle

    return encode_handle(server.url, PROMISE_ID, TOKEN)


@pytest.fixture(autouse=True)
def no_ambient_handle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts off-flow: no handle in argv, env, or a ``dbutils`` in ``__main__``."""
    for name in (
        "LAKEHOOK",
        "LAKEHOOK_CALLBACK_TIMEOUT_S",
        "LAKEHOOK_ATTEMPT_TIMEOUT_S",
        "DATABRICKS_RUNTIME_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", ["notebook.py"])
    monkeypatch.delattr(sys.modules["__main__"], "dbutils", raising=False)


@pytest.fixture
def run_python() -> Any:
    """Run a snippet in a fresh interpreter that imports this checkout's notebook_lib."""
    import subprocess

    def run(code: str, *, env: dict[str, str] | None = None, path: list[str] | None = None) -> str:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOOK", "DATABRICKS_"))}
        full_env["PYTHONPATH"] = os.pathsep.join([*(path or []), str(REPO_ROOT)])
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-c", code],
            check=False,
            capture_output=True,
            text=True,
            env=full_env,
            cwd=str(REPO_ROOT),
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    return run
