"""The same API on a local HTTP server: each request becomes a Function URL event (payload 2.0).

The resolver that serves the Lambda serves here, unchanged: a request is turned into the event
Lambda would build (raw path and query, lower-cased headers, the body base64-encoded unless it
is JSON or text), passed to :func:`lambda_resolver.http.app.handle`, and the answer written
back. No extra dependency (powertools' ``HttpResolverLocal`` is an ASGI app and needs uvicorn,
and would be a second code path to keep equal).

Requests are served one at a time: a powertools resolver keeps the current event in
class-level state, so two concurrent resolves in one process would see each other's request.
Connections are threaded (a slow client does not block the accept loop); resolving is not.

Binds only to loopback unless ``allow_remote=True``: the local stack's operator door is open to
any caller that reaches it. On loopback it also refuses (403) a request whose ``Host`` is not a
loopback name (DNS rebinding: a page on ``evil.example`` that resolves to 127.0.0.1) or whose
``Origin`` is a web page elsewhere (a cross-site ``fetch`` or form); with the API's own rule that
a body is ``application/json`` (415 otherwise), a web page a developer opens cannot start runs
or settle promises here. A client that sends its request slower than ``request_timeout_s``
(slowloris) has its connection closed: no thread is held forever.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from lambda_resolver.console import console_answer, is_console_path
from lambda_resolver.http.app import handle
from lambda_resolver.http.errors import internal
from lambda_resolver.http.wire import dumps
from lambda_resolver.loopback import is_loopback_host_header

log = logging.getLogger("lakehook")

MAX_BODY = 8 * 1024 * 1024  # above Lambda's 6 MB: the API's own limits answer first
TEXT_TYPES = ("application/json", "text/")
REQUEST_TIMEOUT_S = 30.0  # the longest a client may pause while sending (or idle between requests)


S = TypeVar("S", bound="BackgroundServer")


class BackgroundServer(ThreadingHTTPServer):
    """A threaded HTTP server that serves from a daemon thread of its own: :meth:`start`,
    :meth:`close`. The local resolver and ``lakehook console`` are both one."""

    daemon_threads = True
    thread_name = "lakehook-http"
    _thread: threading.Thread | None = None

    def start(self: S) -> S:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()


class LocalServer(BackgroundServer):
    """A threaded HTTP server that hands each request to one resolver, one at a time."""

    def __init__(
        self,
        address: tuple[str, int],
        app: ApiGatewayResolver,
        *,
        loopback_only: bool = True,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.app = app
        self.loopback_only = loopback_only
        self.request_timeout_s = request_timeout_s
        self.resolve_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The base URL callers use, e.g. ``http://127.0.0.1:8765``."""
        raw, port = self.server_address[:2]
        host = raw.decode() if isinstance(raw, bytes) else str(raw)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"


def serve(
    app: ApiGatewayResolver,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    allow_remote: bool = False,
    start: bool = True,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
) -> LocalServer:
    """Serve ``app`` on ``host:port`` (port 0 picks a free one); started unless ``start=False``.

    Refuses a host that is not loopback unless ``allow_remote`` (which also drops the loopback
    ``Host`` check; cross-site ``Origin`` is refused either way).
    """
    if not allow_remote and not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host!r}: the local resolver's operator door is open to any caller; "
            "bind 127.0.0.1 (or pass allow_remote=True behind your own protection)"
        )
    server = LocalServer(
        (host, port), app, loopback_only=not allow_remote, request_timeout_s=request_timeout_s
    )
    return server.start() if start else server


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)


def loopback_name(host: str) -> bool:
    """Whether a ``Host`` header value (``name[:port]``, ``[v6]:port``) names this machine's
    loopback: ``localhost``, ``127.0.0.1``/``127.x.y.z`` or ``[::1]``, with any port."""
    return is_loopback_host_header(host)


def cross_site(headers: Any, loopback_only: bool) -> str | None:
    """Why a request must be refused as cross-site or rebound (403), or None: a ``Host`` that
    is not loopback (when bound to loopback), or an ``Origin`` that is not a loopback page."""
    host = headers.get("Host")
    if loopback_only and host is not None and not loopback_name(host):
        return "the Host header must name the loopback address (127.0.0.1, localhost or [::1])"
    origin = headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not loopback_name(parts.netloc):
            return "requests from web pages are refused: the Origin must be a loopback address"
    return None


def request_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str,
    host: str,
) -> dict[str, Any]:
    """The Function URL (payload 2.0) event Lambda builds for this request."""
    path, _, query = target.partition("?")
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    params: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        params[k] = f"{params[k]},{v}" if k in params else v
    now_ms = time.time_ns() // 1_000_000
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path or "/",
        "rawQueryString": query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", maxsplit=1)[0],
            "http": {
                "method": method,
                "path": path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": False,
    }
    if params:
        event["queryStringParameters"] = params
    if "cookie" in merged:
        event["cookies"] = [c.strip() for c in merged["cookie"].split(";") if c.strip()]
    if body:
        textual = merged.get("content-type", "").lower().startswith(TEXT_TYPES)
        try:
            event["body"] = body.decode("utf-8") if textual else None
        except UnicodeDecodeError:
            event["body"] = None
        if event["body"] is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        # Every read of the request line, the headers and the body fails after this long without
        # a byte (slowloris); http.server then closes the connection.
        super().setup()
        self.connection.settimeout(self.server.request_timeout_s)

    def _serve(self) -> None:
        try:
            answer = self._answer()
        except TimeoutError:
            self.close_connection = True  # a client too slow to send its body: drop it, answer nothing
            return
        except Exception:
            log.exception("local server: internal error on %s", self.command)
            answer = {
                "statusCode": 500,
                "headers": {"Content-Type": "application/json"},
                "body": dumps(internal()),
            }
        self._write(answer)

    def _answer(self) -> dict[str, Any]:
        refused = cross_site(self.headers, self.server.loopback_only)
        if refused is not None:
            self.close_connection = True  # the body (if any) is never read
            return _error(403, "forbidden", refused)
        if is_console_path(self.path):
            sized = (self.headers.get("Content-Length") or "0").strip()
            if sized != "0" or self.headers.get("Transfer-Encoding"):
                self.close_connection = True  # a body is never read here: the connection ends with the answer
            return console_answer(self.command, self.path)  # static files; the API is not involved
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return _error(411, "length_required", "send a Content-Length (chunked bodies are not read)")
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isascii() or not declared.isdigit():
            self.close_connection = True  # the body's end is unknown: this connection is done
            return _error(400, "bad_request", "Content-Length is not a number of bytes")
        length = int(declared)
        if length > MAX_BODY:
            self.close_connection = True
            return _error(413, "body_too_large", f"the request body is over {MAX_BODY} bytes")
        body = self.rfile.read(length) if length else b""
        event = request_event(
            self.command,
            self.path,
            list(self.headers.items()),
            body,
            source_ip=str(self.client_address[0]),
            host=self.headers.get("Host") or self.server.url.split("//", 1)[1],
        )
        with self.server.resolve_lock:
            return handle(event, None, self.server.app)

    def _write(self, answer: dict[str, Any]) -> None:
        raw = answer.get("body") or ""
        data = base64.b64decode(raw) if answer.get("isBase64Encoded") else str(raw).encode("utf-8")
        self.send_response(int(answer.get("statusCode", 500)))
        for name, value in (answer.get("headers") or {}).items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, str(value))
        for cookie in answer.get("cookies") or ():
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        # Any other method goes to the API too, which answers 405 (with Allow) or 404 in its
        # error shape, rather than http.server's HTML 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a request line or headers over its limits, a request it
        cannot parse) in the API's error shape instead of an HTML page; nothing is echoed."""
        self.close_connection = True
        status = code if 400 <= code < 500 else 400
        code_name, what = _REFUSALS.get(status, ("bad_request", "the request could not be read"))
        self._write(_error(status, code_name, what))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The method and path only: a query string can carry a value (Resonate's /resolve).
        # http.server's own refusals (414, 431) answer before the request line is parsed.
        path = str(getattr(self, "path", "") or "-").partition("?")[0][:200]
        log.debug("local server: %s %s -> %s", getattr(self, "command", None) or "-", path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("local server: " + format, *args)


_REFUSALS = {
    400: ("bad_request", "the request could not be read as HTTP/1.1"),
    408: ("request_timeout", "the request took too long to arrive"),
    414: ("uri_too_long", "the request line is over 65,536 bytes: send long values in a JSON body"),
    431: ("headers_too_large", "the request headers are over the limits: 100 headers, 65,536 bytes each"),
}


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": dumps({"error": {"code": code, "message": message}}),
    }
