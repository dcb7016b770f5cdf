"""``lakehook console``: the console on loopback, proxying the API to a served resolver that needs
the operator key. The browser never holds the key; the proxy adds it; foreign pages are refused."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from lambda_resolver.cli.app import app
from lambda_resolver.cli.console_cmd import ConsoleProxy, serve_console
from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.http import Services, create_app
from lambda_resolver.http.local_server import LocalServer, serve
from lambda_resolver.stores.sqlite import SqliteStore

from support.console import Recorded
from support.harness import Harness

OPERATOR_KEY = "console-test-operator-key-0123456789"
SIGNING_KEY = {"k1": b"0123456789abcdef0123456789abcdef"}


@pytest.fixture
def resolver(tmp_path: Path) -> Iterator[LocalServer]:
    """The API served on loopback with the operator door closed to callers without the key."""
    h = Harness(SqliteStore(tmp_path / "lakehook.db"))
    services = Services(
        engine=lambda: h.engine,
        signer=TokenSigner(SIGNING_KEY, "k1"),
        operator_key=OPERATOR_KEY,
        operator_open=False,
    )
    server = serve(create_app(services), "127.0.0.1", 0, start=False)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    serving.start()
    yield server
    server.shutdown()
    serving.join(5)
    server.server_close()


@pytest.fixture
def proxy(resolver: LocalServer) -> Iterator[ConsoleProxy]:
    p = serve_console(resolver.url, OPERATOR_KEY, port=0)
    yield p
    p.close()


def test_proxy_adds_the_key_and_refuses_foreign_pages(resolver: LocalServer, proxy: ConsoleProxy) -> None:
    base = proxy.url.removesuffix("/console/")
    assert requests.get(f"{resolver.url}/v1/runs", timeout=5).status_code == 401  # the door is closed
    through = requests.get(f"{base}/v1/runs", timeout=5)
    assert through.status_code == 200 and through.json()["runs"] == []
    # a key the browser sends is dropped, not forwarded: only the proxy's own is used
    spoofed = requests.get(f"{base}/v1/runs", headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert spoofed.status_code == 200
    assert requests.get(f"{base}/v1/runs", headers={"Host": "evil.example"}, timeout=5).status_code == 403
    cross = requests.post(
        f"{base}/v1/runs/x/cancel", headers={"Origin": "https://evil.example"}, json={}, timeout=5
    )
    assert cross.status_code == 403
    assert requests.get(f"{base}/console/", timeout=5).text.startswith("<!doctype html>")
    assert requests.get(f"{base}/elsewhere", timeout=5).status_code == 404
    with socket.create_connection(("127.0.0.1", proxy.server_address[1]), timeout=5) as raw:
        raw.sendall(b"POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2x\r\n\r\n{}")
        answer = raw.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 400") and "Content-Length" in answer
    # a request the resolver refuses comes back as it answered (its status and error shape)
    unknown = requests.post(f"{base}/v1/runs", json={"flow": "no_such_flow"}, timeout=5)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_flow"


def test_browser_requests_carry_no_key(proxy: ConsoleProxy, recorded: Recorded) -> None:
    seen: list[dict[str, Any]] = []
    page = recorded.page
    page.on("request", lambda r: seen.append({"url": r.url, "headers": r.headers}))
    page.goto(f"{proxy.url}#/schedules")
    page.wait_for_selector("#schedules")
    page.goto(f"{proxy.url}#/")
    page.wait_for_selector("#runs tbody tr")
    assert "No runs." in page.inner_text("#runs")
    api_calls = [s for s in seen if "/v1/" in s["url"]]
    assert {s["url"].split("?")[0].rsplit("/", 1)[-1] for s in api_calls} == {"schedules", "runs"}
    for s in seen:
        assert "authorization" not in {k.lower() for k in s["headers"]}, s
        assert OPERATOR_KEY not in str(s)
    assert OPERATOR_KEY not in page.content()
    recorded.assert_clean()


def test_cli_needs_the_operator_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOOK_OPERATOR_KEY", raising=False)
    result = CliRunner().invoke(app, ["console", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "LAKEHOOK_OPERATOR_KEY" in result.output
