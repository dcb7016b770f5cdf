"""The route table: a powertools ``Router`` plus what powertools does not track for us.

Powertools answers an unknown method on a known path with its 404; we answer 405 with an
``Allow`` header, so the table remembers each (method, path pattern). Routes that take a JSON
body get the ``json_only`` middleware: powertools parses form and multipart bodies itself and
would happily validate ``value=1`` as ``{"value": ["1"]}``; the API takes JSON only (415).

Each route also has a *gate* (:meth:`Api.gate`), run before powertools sees the request: the
body's size against the route's cap (413), the route's credentials (401/403), then the media
type (415). Powertools validates (parses) the body before any middleware runs, so a check that
must come before parsing cannot be a middleware: an unauthenticated 5 MB body costs a length
comparison and an HMAC, never a JSON parse.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from lambda_resolver.http.errors import BodyTooLarge, UnsupportedMediaType
from lambda_resolver.http.models import ConflictBody, ErrorBody
from lambda_resolver.http.wire import JSON_TYPE, header, is_json_content_type

F = TypeVar("F", bound=Callable[..., Any])
Guard = Callable[[Mapping[str, str], Mapping[str, str]], object]
"""``guard(headers, path_params)``: raises the refusal (401/403/400) or returns."""

# Body caps per route (bytes as sent). A callback carries one value of at most 256 KiB of JSON;
# a client that escapes non-ASCII (``\uXXXX``) can triple it, plus the envelope. Operator routes
# carry flow manifests (publish) and are capped below Lambda's 6 MB request limit.
CALLBACK_BODY = 1024 * 1024
WEBHOOK_BODY = 64 * 1024
OPERATOR_BODY = 4 * 1024 * 1024
NO_BODY = 64 * 1024

CALLBACK_SECURITY: list[dict[str, list[str]]] = [
    {"promiseToken": []},
    {"operatorBearer": []},
    {"operatorKey": []},
]
OPERATOR_SECURITY: list[dict[str, list[str]]] = [{"operatorBearer": []}, {"operatorKey": []}]
WEBHOOK_SECURITY: list[dict[str, list[str]]] = [{"webhookBasic": []}]

_ERRORS = {
    400: "Bad request: an invalid id, a body that is not a JSON object, or a refused value",
    401: "Missing or invalid credentials",
    403: "The operator door is closed over HTTP",
    404: "Not found",
    409: "Conflicts with stored state",
    413: "Too large: a value over 256 KiB of JSON (pass a table name or a volume path instead), "
    "parameters over their caps, or a body over the route's cap",
    415: "The body is not application/json",
    422: "The body or parameters have the wrong shape (fields lists each problem)",
    500: "Internal error",
}


def responses(ok: dict[int, type[BaseModel] | None], *errors: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI answers of one operation: its documents (``None``: some JSON object), then our
    error shape for ``errors``."""
    out: dict[int, OpenAPIResponse] = {}
    for status, model in ok.items():
        if model is None:
            out[status] = {
                "description": "A JSON object",
                "content": {JSON_TYPE: {"schema": {"type": "object"}}},
            }
        else:
            doc = (model.__doc__ or model.__name__).strip().splitlines()[0]
            out[status] = {"description": doc, "content": {JSON_TYPE: {"model": model}}}
    for status in (*errors, 422, 500):
        model = ConflictBody if status == 409 else ErrorBody
        out[status] = {"description": _ERRORS[status], "content": {JSON_TYPE: {"model": model}}}
    return out


def check_media_type(headers: Mapping[str, str], body: str | None) -> None:
    """Refuse (415) a body that does not say it is ``application/json``. A request with no body
    and no Content-Type passes (a bodiless heartbeat); a body without one does not — a browser's
    cross-site form or ``text/plain`` POST must never count as JSON."""
    content_type = header(headers, "Content-Type")
    if content_type is None and not body:
        return
    if not is_json_content_type(content_type):
        got = "no Content-Type" if content_type is None else repr(content_type[:80])
        raise UnsupportedMediaType(f"send the request body as application/json (got {got})")


def json_only(app: Any, next_middleware: NextMiddleware) -> Response[Any]:
    """Refuse (415) a body that does not say it is JSON, before the route runs."""
    event = app.current_event
    check_media_type(event.headers, event.body)
    return next_middleware(app)


def _pattern(rule: str) -> re.Pattern[str]:
    parts = re.split(r"<(\w+)>", rule)
    pieces = [f"(?P<{p}>[^/]+)" if i % 2 else re.escape(p) for i, p in enumerate(parts)]
    return re.compile("^" + "".join(pieces) + "$")


class Entry(NamedTuple):
    """One route as the gate sees it (a NamedTuple: cheaper to define than a dataclass, on the
    callback path)."""

    method: str
    rule: str
    pattern: re.Pattern[str]
    body: bool
    max_body: int
    guard: Guard | None


def body_size(event: Mapping[str, Any]) -> int:
    """The size in bytes of an event's body as sent (base64 decoded by arithmetic, not by work)."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        return 0
    if event.get("isBase64Encoded"):
        return len(raw) * 3 // 4
    return len(raw) if raw.isascii() else len(raw.encode("utf-8", "surrogatepass"))


class Api:
    """A ``Router`` and the (method, pattern, body cap, guard) of every route on it, and routes
    registered only when first needed (:meth:`defer`)."""

    def __init__(self) -> None:
        self.router = Router()  # type: ignore[no-untyped-call]
        self._table: list[Entry] = []
        self._deferred: list[Callable[[Api], None]] = []
        self._lock = threading.Lock()

    def defer(self, register: Callable[[Api], None]) -> None:
        """Register routes with ``register(api)`` on first need (:meth:`complete`), not now: the
        operator door's models cost a callback container milliseconds it never uses."""
        self._deferred.append(register)

    def serves(self, method: str, path: str) -> bool:
        """Whether a route registered so far serves ``method path``."""
        return any(e.method == method and e.pattern.match(path) for e in self._table)

    def complete(self, app: Any) -> None:
        """Register the deferred routes, each on its own router included in ``app`` (a resolver
        matches against its current route lists on every request). Idempotent, thread-safe."""
        with self._lock:
            while self._deferred:
                more = Api()
                self._deferred.pop(0)(more)
                self._table.extend(more._table)
                app.include_router(more.router)

    def route(
        self,
        method: str,
        rule: str,
        *,
        body: bool = False,
        max_body: int | None = None,
        guard: Guard | None = None,
        **kw: Any,
    ) -> Callable[[F], F]:
        """Register ``rule`` for ``method``; ``body=True`` for routes that read a JSON body,
        ``max_body`` its cap in bytes, ``guard`` its credential check (run before parsing)."""
        cap = max_body if max_body is not None else (OPERATOR_BODY if body else NO_BODY)
        self._table.append(Entry(method.upper(), rule, _pattern(rule), body, cap, guard))
        middlewares = [json_only] if body else None
        return self.router.route(rule, method.upper(), middlewares=middlewares, **kw)

    def gate(self, event: Mapping[str, Any], method: str, path: str) -> None:
        """Refuse a request before it is parsed: too large (413), no credentials (401/403), not
        JSON (415). Unknown routes pass (powertools answers them 404/405)."""
        for entry in self._table:
            match = entry.pattern.match(path)
            if entry.method != method or match is None:
                continue
            size = body_size(event)
            if size > entry.max_body:
                raise BodyTooLarge(
                    f"the request body is {size} bytes; {method} {entry.rule} takes at most "
                    f"{entry.max_body}: pass large data by reference (a table name, a volume path)"
                )
            headers = event.get("headers") or {}
            if entry.guard is not None:
                entry.guard(headers, match.groupdict())
            if entry.body:
                body = event.get("body")
                check_media_type(headers, body if isinstance(body, str) else None)
            return

    def get(self, rule: str, **kw: Any) -> Callable[[F], F]:
        """``route("GET", rule, ...)``."""
        return self.route("GET", rule, **kw)

    def post(self, rule: str, **kw: Any) -> Callable[[F], F]:
        """``route("POST", rule, ...)``."""
        return self.route("POST", rule, **kw)

    def allowed(self, path: str) -> list[str]:
        """The methods some route serves at ``path`` (empty: no such path)."""
        return sorted({e.method for e in self._table if e.pattern.match(path)})
