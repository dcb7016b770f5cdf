"""The local workspace: a loopback HTTP server answering the Jobs API calls the resolver makes.

databricks-sdk talks to it exactly as to a real workspace (``WorkspaceClient(host=ws.url,
token=...)``): ``jobs/run-now`` with idempotency tokens, ``jobs/runs/get``,
``jobs/runs/get-output``, ``jobs/runs/cancel``, ``jobs/get``, ``jobs/list``, plus the
``/.well-known/databricks-config`` probe the SDK sends when it builds a client. It is the fake
Databricks of the tests and the core of ``lakehook dev``: an :class:`Executor` runs what is
triggered, ``faults`` scripts misbehaviour per route, ``configure_webhooks`` turns on job
notifications.

With ``state_path`` the workspace keeps its jobs, id counters and runs (idempotency tokens
included) in a SQLite file (:mod:`~lambda_resolver.local.persist`), written before each answer:
a workspace started again on that file — after a clean stop or a kill — answers a known token
with the run it already started, gives a bundle key the job id it had, and continues the run
ids. Runs the previous process left active are executed again from the top when it starts
(``resume=True``; locally the workspace shares the resolver's process, so a restart interrupts
them, where a real workspace would have kept them running), or end INTERNAL_ERROR
(``resume=False``).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from lambda_resolver.core.clock import Clock, SystemClock
from lambda_resolver.local.executors import Executor
from lambda_resolver.local.faults import Fault, Faults
from lambda_resolver.local.job_notifications import Webhooks, WebhookTarget
from lambda_resolver.local.jobs import ApiError, JobRegistry
from lambda_resolver.local.jobs_api import JobsApi
from lambda_resolver.local.runs import LocalRun
from lambda_resolver.loopback import is_loopback_name

if TYPE_CHECKING:
    from lambda_resolver.local.persist import WorkspaceState

log = logging.getLogger("lakehook.local")

WELL_KNOWN = ".well-known/databricks-config"
_API_PATH = re.compile(r"^/api/2\.[0-2]/(jobs/[a-z/-]+)$")
Route = Callable[[JobsApi, Mapping[str, Any]], dict[str, Any]]
#: An observer of requests as they arrive: ``(route, body, arrived_ns)`` (see ``on_request``).
RequestHook = Callable[[str, bytes, int], None]
_ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "jobs/run-now"): lambda api, p: api.run_now(p),
    ("GET", "jobs/runs/get"): lambda api, p: api.get_run(p),
    ("GET", "jobs/runs/get-output"): lambda api, p: api.get_output(p),
    ("POST", "jobs/runs/cancel"): lambda api, p: api.cancel(p),
    ("GET", "jobs/get"): lambda api, p: api.jobs.api_get(p),
    ("GET", "jobs/list"): lambda api, p: api.jobs.api_list(p),
    ("POST", "jobs/delete"): lambda api, p: api.jobs.api_delete(p),
}


class LocalWorkspace:
    """A Databricks workspace on loopback, for databricks-sdk. Use as a context manager, or
    ``start()``/``stop()``. With ``token`` set, API calls need ``Authorization: Bearer <token>``.

    ``state_path``: keep jobs, runs and tokens in that SQLite file across restarts (the module
    docstring); ``resume``: on ``start()``, execute again the runs a previous process left
    active (True) or end them INTERNAL_ERROR (False). Without ``state_path`` everything is in
    memory. ``close()`` (or leaving the ``with`` block) stops serving and freezes the file: what
    runs report afterwards is not recorded, as if the process had died there."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        executor: Executor,
        token: str | None = None,
        clock: Clock | None = None,
        workspace_id: int = 1_234_567_890_123_456,
        allow_remote: bool = False,
        state_path: Path | str | None = None,
        resume: bool = True,
    ) -> None:
        if not allow_remote and not is_loopback_name(host):
            raise ValueError(f"the local workspace binds loopback only, not {host!r} (allow_remote=True)")
        self.host, self.port, self.token, self.workspace_id = host, port, token, workspace_id
        self.resume = resume
        self.state: WorkspaceState | None = None
        if state_path is not None:
            from lambda_resolver.local.persist import WorkspaceState

            self.state = WorkspaceState(state_path)
        self.faults = Faults()
        self.webhooks = Webhooks(workspace_id)
        self.clock: Clock = clock or SystemClock()
        try:
            self.jobs = JobRegistry(state=self.state)
            self.api = JobsApi(
                self.jobs,
                executor,
                self.clock,
                lambda: self.url,
                on_change=self.webhooks.notify,
                state=self.state,
            )
        except BaseException:
            if self.state is not None:
                self.state.close()
            raise
        self.requests: Counter[str] = Counter()  # requests received per route, faulted ones too
        #: Called with each request as it arrives, before faults and before it is answered:
        #: ``(route, raw body, time.perf_counter_ns() at arrival)``, on the request's thread
        #: (benchmarks time the resolver's run-now with it). Must be quick and must not raise.
        self.on_request: RequestHook | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._resumed = False

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> LocalWorkspace:
        """Bind and serve on a background thread; ``port=0`` picks a free port (see ``url``).
        The first start deals with the runs a previous process left active (``resume``)."""
        if self._server is not None:
            return self
        if self.state is not None and self.state.closed:
            raise RuntimeError(f"this local workspace was closed ({self.state.path}); open a new one")
        server = _Server((self.host, self.port), _Handler)
        server.workspace = self
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-workspace", daemon=True
        )
        self._thread.start()
        if not self._resumed:
            self._resumed = True
            self.api.resume(self.resume)
        return self

    def stop(self) -> None:
        """Stop serving (``start()`` serves again); the state file stays open."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def close(self) -> None:
        """Stop serving and close the state file (if any): runs still active stay active in it,
        to be resumed by the next workspace on that file."""
        self.stop()
        if self.state is not None:
            self.state.close()

    def __enter__(self) -> LocalWorkspace:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def executor(self) -> Executor:
        """What runs triggered jobs; swappable between tests."""
        return self.api.executor

    @executor.setter
    def executor(self, executor: Executor) -> None:
        self.api.executor = executor

    @property
    def url(self) -> str:
        """The workspace host URL (what DATABRICKS_HOST would be)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- jobs and runs --------------------------------------------------------------------------------
    def register_job(
        self, job_id: int | None, name: str, spec: Mapping[str, Any], key: str | None = None
    ) -> int:
        """Register (or update) a job from its Databricks job settings — a bundle job resource
        with its ``${...}`` references resolved. Returns the job id (assigned when None;
        the id already held by ``key`` when the bundle job was registered before)."""
        return self.jobs.register(job_id, name, spec, key, self.clock.now())

    def delete_job(self, job_id: int) -> None:
        """Delete a job (``jobs/delete``): a run-now of it answers 400 "does not exist" from now on."""
        self.jobs.delete(job_id)

    def job_ids(self) -> dict[str, int]:
        """Bundle job key → job id, for ``lakehook publish``."""
        return self.jobs.by_key()

    def finish(self, run_id: int, result: str = "SUCCESS", **kw: Any) -> bool:
        """End a run as its executor would (tests with the ManualExecutor); see JobsApi.finish."""
        return self.api.finish(run_id, result, **kw)

    def run(self, run_id: int) -> LocalRun:
        return self.api.run(run_id)

    def runs(self) -> list[LocalRun]:
        return self.api.runs()

    def runs_per_token(self) -> dict[str, int]:
        """Runs started per idempotency token: every value must be 1."""
        return self.api.runs_per_token()

    def wait(self, run_id: int, timeout: float = 10.0) -> LocalRun:
        """Block until the run ended."""
        return self.api.wait(run_id, timeout)

    def configure_webhooks(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ids_as_strings: bool = False,
    ) -> None:
        """Send job notifications (for jobs whose settings subscribe to them) to ``url``."""
        self.webhooks.target = WebhookTarget(url, username, password, ids_as_strings)

    # -- requests -------------------------------------------------------------------------------------
    def dispatch(
        self, method: str, path: str, query: Mapping[str, str], raw: bytes, authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Answer one request: ``(status, JSON body)``. The HTTP handler only moves bytes."""
        if path.strip("/") == WELL_KNOWN and method == "GET":
            return 200, {"oidc_endpoint": f"{self.url}/oidc", "workspace_id": str(self.workspace_id)}
        match = _API_PATH.match(path)
        route = _ROUTES.get((method, match.group(1))) if match else None
        if route is None:
            return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API found for '{method} {path}'"}
        if self.token is not None and not _bearer_ok(authorization, self.token):
            return 401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}
        params: Mapping[str, Any] = query
        if method == "POST":
            try:
                params = json.loads(raw or b"{}")
            except ValueError:
                params = None  # type: ignore[assignment]
            if not isinstance(params, dict):
                msg = "Invalid JSON given in the body of the request - expected a map"
                return 400, {"error_code": "MALFORMED_REQUEST", "message": msg}
        try:
            return 200, route(self.api, params)
        except ApiError as exc:
            return exc.status, exc.body()
        except Exception:  # a bug here must not look like Databricks' answer
            log.exception("local workspace: %s %s failed", method, path)
            return 500, {"error_code": "INTERNAL_ERROR", "message": "internal error in the local workspace"}


def route_of(path: str) -> str:
    """The fault/metrics route name of a request path: ``jobs/run-now``, ``.well-known/...``."""
    match = _API_PATH.match(path)
    return match.group(1) if match else path.strip("/")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    workspace: LocalWorkspace


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    server_version = "lakehook-local-workspace"
    timeout = 60
    wbufsize = -1  # buffered: headers and body leave in one segment (no Nagle/delayed-ACK stall)
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("local workspace: " + format, *args)

    def _handle(self, method: str) -> None:
        arrived_ns = time.perf_counter_ns()
        ws = self.server.workspace
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = route_of(parts.path)
        ws.requests[route] += 1
        hook = ws.on_request
        if hook is not None:
            hook(route, raw, arrived_ns)
        fault = ws.faults.take(route)
        if fault is not None and self._inject(fault):
            return
        query = dict(parse_qsl(parts.query))
        status, body = ws.dispatch(method, parts.path, query, raw, self.headers.get("Authorization"))
        if fault is not None and fault.kind == "drop_after":
            self._drop()
            return
        self._send(status, body)

    def _inject(self, fault: Fault) -> bool:
        """Apply a fault; True when it answered (or dropped) the request."""
        if fault.kind == "delay":
            time.sleep(fault.delay_ms / 1000)
            return False
        if fault.kind == "drop":
            self._drop()
            return True
        if fault.kind == "http":
            body = {"error_code": fault.error_code, "message": fault.message}
            self._send(fault.status, body, retry_after=fault.retry_after)
            return True
        return False

    def _send(self, status: int, body: dict[str, Any], retry_after: int | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _bearer_ok(authorization: str | None, token: str) -> bool:
    scheme, _, value = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())
