"""``lakehook console --url URL``: the web console on loopback, against a deployed resolver.

The page is served from this machine and its ``/v1/...`` requests are forwarded to the resolver
with the operator key added here, so the key never reaches the browser. Like ``lakehook dev``,
it listens on loopback only and refuses (403) a ``Host`` that is not loopback (DNS rebinding) or an
``Origin`` of another web page: no other site a developer opens can act through it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler
from typing import Annotated, Any

import requests
import typer

from lambda_resolver.cli.app import EXIT_USAGE, app
from lambda_resolver.cli.remote import err
from lambda_resolver.console import console_answer, is_console_path
from lambda_resolver.http.local_server import (
    MAX_BODY,
    REQUEST_TIMEOUT_S,
    BackgroundServer,
    cross_site,
    is_loopback,
)

log = logging.getLogger("lakehook")

#: What the browser may pass on to the resolver; anything else (cookies, its own Authorization)
#: stays here.
FORWARDED = ("content-type", "accept", "idempotency-key")
RETURNED = ("content-type", "retry-after", "allow")


class ConsoleProxy(BackgroundServer):
    """Serves the console's files and forwards the API to ``upstream`` with the operator key."""

    thread_name = "lakehook-console"

    def __init__(self, address: tuple[str, int], upstream: str, operator_key: str) -> None:
        super().__init__(address, _ProxyHandler)
        self.upstream = upstream.rstrip("/")
        self.operator_key = operator_key
        self.session = requests.Session()

    @property
    def url(self) -> str:
        """Where the console is, e.g. ``http://127.0.0.1:8766/console/``."""
        return f"http://127.0.0.1:{self.server_address[1]}/console/"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: ConsoleProxy
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(REQUEST_TIMEOUT_S)  # a client that stalls mid-request is dropped

    def _serve(self) -> None:
        refused = cross_site(self.headers, loopback_only=True)
        if refused is not None:
            self.close_connection = True
            return self._send(403, _json_error("forbidden", refused), "application/json")
        if is_console_path(self.path):
            page = console_answer(self.command, self.path)
            return self._send(page["statusCode"], base64.b64decode(page["body"]), None, page["headers"])
        if not self.path.startswith(("/v1/", "/healthz")):
            return self._send(
                404, _json_error("not_found", "the console serves /console/ and /v1/"), "application/json"
            )
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isascii() or not declared.isdigit() or self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            what = "send a body with a Content-Length (a number of bytes; chunked bodies are not read)"
            return self._send(400, _json_error("bad_request", what), "application/json")
        length = int(declared)
        if length > MAX_BODY:
            self.close_connection = True
            return self._send(
                413, _json_error("body_too_large", "the request body is too large"), "application/json"
            )
        data = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED}
        headers["Authorization"] = f"Bearer {self.server.operator_key}"  # added here, never in the page
        try:
            answer = self.server.session.request(
                self.command,
                self.server.upstream + self.path,
                data=data,
                headers=headers,
                timeout=30,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            message = f"cannot reach the resolver at {self.server.upstream}: {type(exc).__name__}"
            return self._send(502, _json_error("unreachable", message), "application/json")
        back = {k: v for k, v in answer.headers.items() if k.lower() in RETURNED}
        return self._send(answer.status_code, answer.content, None, back)

    def _send(
        self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("console: " + format, *args)


def _json_error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def serve_console(
    upstream: str, operator_key: str, host: str = "127.0.0.1", port: int = 8766
) -> ConsoleProxy:
    """Start the console proxy on loopback (port 0: a free one)."""
    if not is_loopback(host):
        raise ValueError(f"refusing to listen on {host!r}: the console holds the operator key; bind loopback")
    return ConsoleProxy((host, port), upstream, operator_key).start()


@app.command()
def console(
    url: Annotated[str, typer.Option("--url", envvar="LAKEHOOK_URL", help="The deployed resolver's URL.")],
    operator_key_env: Annotated[
        str, typer.Option(help="The environment variable holding the operator key.")
    ] = "LAKEHOOK_OPERATOR_KEY",
    port: Annotated[
        int, typer.Option(help="The loopback port to serve the console on (0: any free one).")
    ] = 8766,
) -> None:
    """Serve the web console on loopback against a deployed resolver; the operator key stays here."""
    key = os.environ.get(operator_key_env, "")
    if not key:
        err.print(
            f"[red]set {operator_key_env} to the resolver's operator key[/] (it is sent by this process only)"
        )
        raise typer.Exit(EXIT_USAGE)
    server = serve_console(url, key, port=port)
    err.print(f"console: {server.url} → {server.upstream} (Ctrl-C stops)", highlight=False)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
