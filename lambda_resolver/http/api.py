"""The route table: a powertools ``Router`` plus what powertools does not track for us.

Powertools answers an unknown method on a known path with its 404; we answer 405 with an
``Allow`` header, so the table remembers each (method, path pattern). Routes that take a JSON
body get the ``json_only`` middleware: powertools parses form and multipart bodies itself and
would happily validate ``value=1`` as ``{"value": ["1"]}``; the API takes JSON only (415).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from lambda_resolver.http.errors import UnsupportedMediaType
from lambda_resolver.http.models import ConflictBody, ErrorBody
from lambda_resolver.http.wire import JSON_TYPE, is_json_content_type

F = TypeVar("F", bound=Callable[..., Any])

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
    413: "A value over 256 KiB of JSON: pass a table name or a volume path instead",
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


def json_only(app: Any, next_middleware: NextMiddleware) -> Response[Any]:
    """Refuse (415) a body that does not say it is JSON, before the route runs."""
    content_type = app.current_event.headers.get("content-type")
    if not is_json_content_type(content_type):
        raise UnsupportedMediaType(
            f"send the request body as application/json (got {str(content_type)[:80]!r})"
        )
    return next_middleware(app)


def _pattern(rule: str) -> re.Pattern[str]:
    parts = re.split(r"(<\w+>)", rule)
    return re.compile("^" + "".join("[^/]+" if p.startswith("<") else re.escape(p) for p in parts) + "$")


class Api:
    """A ``Router`` and the (method, pattern) of every route on it."""

    def __init__(self) -> None:
        self.router = Router()  # type: ignore[no-untyped-call]
        self._table: list[tuple[str, re.Pattern[str]]] = []

    def route(self, method: str, rule: str, *, body: bool = False, **kw: Any) -> Callable[[F], F]:
        """Register ``rule`` for ``method``; ``body=True`` for routes that read a JSON body."""
        self._table.append((method.upper(), _pattern(rule)))
        middlewares = [json_only] if body else None
        return self.router.route(rule, method.upper(), middlewares=middlewares, **kw)

    def get(self, rule: str, **kw: Any) -> Callable[[F], F]:
        """``route("GET", rule, ...)``."""
        return self.route("GET", rule, **kw)

    def post(self, rule: str, **kw: Any) -> Callable[[F], F]:
        """``route("POST", rule, ...)``."""
        return self.route("POST", rule, **kw)

    def allowed(self, path: str) -> list[str]:
        """The methods some route serves at ``path`` (empty: no such path)."""
        return sorted({m for m, pattern in self._table if pattern.match(path)})
