"""``lakehook dev``'s server against a browser and a slow client (issue 12, findings 3 and 10):
real sockets on loopback, real log output of a real process."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.http import Services, create_app
from lambda_resolver.http.local_server import LocalServer, loopback_name, serve

from support.flows import flow, job_task
from support.harness import Harness

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_KEY = "debug-probe-operator-key-0123456789abcdef"


def services_for(h: Harness, **kw: Any) -> Services:
    return Services(engine=lambda: h.engine, signer=h.signer, **kw)


@pytest.fixture
def server(h: Harness) -> Iterator[LocalServer]:
    """The local server as ``lakehook dev`` runs it: loopback, the operator door open."""
    h.publish(flow("one", [job_task("only")]))
    srv = serve(
        create_app(services_for(h, operator_key=None, operator_open=True)),
        "127.0.0.1",
        0,
        request_timeout_s=1.0,
    )
    yield srv
    srv.close()


def call(
    srv: LocalServer, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, json.loads(text) if text else None
    finally:
        conn.close()


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},  # DNS rebinding: evil.example resolved to 127.0.0.1
        {"Host": "evil.example:8765"},
        {"Host": "127.0.0.1.evil.example"},
        {"Origin": "https://evil.example"},  # a cross-site fetch from a page the developer opened
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1.evil.example:8765"},
    ],
)
def test_a_request_from_a_web_page_or_a_rebound_name_is_403(
    server: LocalServer, h: Harness, headers: dict[str, str]
) -> None:
    status, body = call(server, "POST", "/v1/runs", {"flow": "one", "run_id": "csrf"}, {**JSON, **headers})
    assert status == 403
    assert body["error"]["code"] == "forbidden"
    assert h.store.get_run("csrf") is None


def test_a_body_without_a_content_type_starts_no_run(server: LocalServer, h: Harness) -> None:
    status, body = call(server, "POST", "/v1/runs", {"flow": "one", "run_id": "plain"})
    assert status == 415, body
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    status, _ = call(
        server, "POST", "/v1/runs", {"flow": "one", "run_id": "plain"}, {"Content-Type": "text/plain"}
    )
    assert status == 415
    assert h.store.get_run("plain") is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Host": "localhost"},
        {"Host": "localhost:8765"},
        {"Host": "[::1]:8765"},
        {"Host": "127.0.0.1:1"},
        {"Origin": "http://localhost:3000"},
        {"Origin": "http://127.0.0.1:8765"},
    ],
)
def test_loopback_callers_are_served(server: LocalServer, headers: dict[str, str]) -> None:
    status, _ = call(server, "GET", "/v1/runs", headers=headers)
    assert status == 200


def test_the_resonate_resolve_without_a_body_still_works(h: Harness) -> None:
    h.publish(flow("one", [job_task("only")]))
    h.start("one", run_id="rs")
    services = services_for(h, operator_key=None, operator_open=True, resonate_compat=True)
    srv = serve(create_app(services), "127.0.0.1", 0)
    try:
        status, body = call(srv, "POST", "/resolve?id=rs.only.1&value=done")
        assert (status, body["state"], body["value"]) == (200, "RESOLVED", "done")
    finally:
        srv.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3:9", True),
        ("[::1]", True),
        ("LOCALHOST.", True),
        ("localhost.evil", False),
        ("10.0.0.1", False),
        ("[::1", False),
        ("", False),
    ],
)
def test_loopback_names(host: str, loopback: bool) -> None:
    assert loopback_name(host) is loopback


def test_a_slowloris_client_is_disconnected(server: LocalServer) -> None:
    """A client that sends half a request and waits is cut off by the server's socket timeout."""
    for partial in (b"POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n", _half_body()):
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=30) as sock:
            sock.sendall(partial)
            received = b""
            while chunk := sock.recv(4096):  # b"": the server closed the connection
                received += chunk
            assert b"200" not in received.split(b"\r\n", 1)[0]
    status, _ = call(server, "GET", "/healthz")  # and it still serves everyone else
    assert status == 200


def _half_body() -> bytes:
    head = "POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return head.encode() + b'Content-Length: 100\r\n\r\n{"flow": '


PROBE = textwrap.dedent(
    """
    import json, logging, sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from lambda_resolver.http import create_app, handle
    from lambda_resolver.stores.sqlite import SqliteStore
    from support.events import http_event
    from support.flows import flow, job_task
    from support.harness import Harness
    from notebook_lib.handle import decode_handle
    from lambda_resolver.http import Services

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    h = Harness(SqliteStore(Path({db!r})))
    h.publish(flow("one", [job_task("only")]))
    app = create_app(Services(engine=lambda: h.engine, signer=h.signer, operator_key={operator_key!r}))
    def post(path, body, token=None, operator=False):
        headers = {{"content-type": "application/json"}}
        if token: headers["authorization"] = "Bearer " + token
        if operator: headers["x-lakehook-operator-key"] = {operator_key!r}
        event = http_event("function_url", "POST", path, body=json.dumps(body), headers=headers)
        return handle(event, None, app)
    post("/v1/runs", {{"flow": "one", "run_id": "dbg", "params": {{}}}}, operator=True)
    handle_text = h.launcher.run_for("dbg.only.1").request.parameters["lakehook"]
    token = decode_handle(handle_text).token
    answer = post("/v1/promises/dbg.only.1/resolve", {{"value": "BODY-MARKER-7c1f"}}, token=token)
    assert answer["statusCode"] == 200, answer
    print("TOKEN=" + token)
    """
)


def test_powertools_debug_logs_no_request_body_or_token(tmp_path: Path) -> None:
    """POWERTOOLS_DEBUG turns on powertools' own debug logging at import: a real process, its
    real stderr and stdout, must still carry neither a request body nor a token."""
    script = PROBE.format(tests=str(ROOT / "tests"), db=str(tmp_path / "d.db"), operator_key=OPERATOR_KEY)
    env = {**os.environ, "POWERTOOLS_DEBUG": "1", "PYTHONPATH": str(ROOT / "tests")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    token = done.stdout.split("TOKEN=", 1)[1].strip()
    logs = done.stderr + done.stdout.split("TOKEN=", 1)[0]
    assert "DEBUG" in logs  # debug logging was on
    assert "BODY-MARKER-7c1f" not in logs
    assert token not in logs and token.rsplit(".", 1)[1] not in logs
    assert OPERATOR_KEY not in logs


def test_a_refusal_before_the_request_line_is_read_still_answers_in_the_error_shape(
    server: LocalServer,
) -> None:
    """http.server's own 414 comes before the request line is parsed: the access log has no path."""
    status, body = call(server, "GET", "/v1/runs/" + "x" * 70_000)
    assert (status, body["error"]["code"]) == (414, "uri_too_long")
