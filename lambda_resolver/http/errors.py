"""Errors at the edge, mapped to answers in one place.

Every :class:`LakehookError` answers its own ``status`` with exactly ``to_dict()``; request
validation problems become 400 (not JSON, not an object), 415 (not ``application/json``) or
422 in the same ``{"error": {...}}`` shape; anything else is a 500 that says "internal error"
and nothing more — the exception is logged, never echoed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import ValidationError

from lambda_resolver.core.errors import BadRequest, LakehookError, NotFound, Unauthorized
from lambda_resolver.http.wire import is_json_content_type, json_response

log = logging.getLogger("lakehook")


def internal() -> dict[str, Any]:
    """The body of every 500: nothing about what went wrong (that goes to the log)."""
    return {"error": {"code": "internal", "message": "internal error"}}


class UnsupportedMediaType(LakehookError):
    """The request body is not ``application/json``."""

    code = "unsupported_media_type"
    status = 415


class BodyTooLarge(LakehookError):
    """The request body is over the route's cap (checked before it is read as JSON)."""

    code = "body_too_large"
    status = 413


class ParamsTooLarge(LakehookError):
    """Run or job parameters over their caps (count, one value, all together)."""

    code = "params_too_large"
    status = 413


class InvalidRequest(LakehookError):
    """The body or parameters are JSON of the wrong shape; ``fields`` says what and where."""

    code = "invalid_request"
    status = 422


class MethodNotAllowed(LakehookError):
    """The path exists, the method does not; ``allow`` lists the methods it has."""

    code = "method_not_allowed"
    status = 405

    def __init__(self, message: str, allow: Sequence[str]) -> None:
        super().__init__(message, details={"allow": list(allow)})
        self.allow = list(allow)


class RouteNotFound(NotFound):
    """No route has this path (or the route is switched off)."""


class AuthRequired(Unauthorized):
    """401 with a ``WWW-Authenticate`` challenge; the message never says which check failed."""

    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message)
        self.challenge = challenge


BEARER_CHALLENGE = 'Bearer realm="lakehook"'


def headers_for(exc: LakehookError) -> dict[str, str]:
    """The headers an error answer carries besides the content type."""
    if isinstance(exc, AuthRequired):
        return {"WWW-Authenticate": exc.challenge}
    if isinstance(exc, Unauthorized):  # a token of another creation of the promise (the engine)
        return {"WWW-Authenticate": BEARER_CHALLENGE}
    if isinstance(exc, MethodNotAllowed):
        return {"Allow": ", ".join(exc.allow)}
    return {}


def from_validation(errors: Iterable[Mapping[str, Any]], *, in_request: bool = True) -> LakehookError:
    """Pydantic/powertools validation errors as one of ours: 400 for a body that is not a JSON
    object, else 422 ``invalid_request`` naming each field (``input`` is never echoed).

    ``in_request``: locations start with ``body``/``query``/``path``/``header`` (HTTP); a
    direct invocation's locations are field paths already.
    """
    errors = list(errors)
    fields: list[dict[str, Any]] = []
    for e in errors:
        loc = tuple(e.get("loc") or ())
        kind = str(e.get("type") or "")
        if kind == "json_invalid":
            return BadRequest("the request body is not valid JSON")
        body_itself = loc == ("body",) if in_request else loc == ()
        if body_itself and kind in ("missing", "model_attributes_type", "dict_type", "model_type"):
            what = "is empty" if kind == "missing" else "is not a JSON object"
            return BadRequest(f"the request body {what}; send a JSON object")
        where = "body"
        path = loc
        if in_request and loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            where, path = str(loc[0]), loc[1:]
        name = ".".join(str(p) for p in path) or where
        problem = "unknown field" if kind == "extra_forbidden" else str(e.get("msg") or kind)
        problem = problem.removeprefix("Value error, ")
        fields.append({"field": name, "in": where, "problem": problem})
    message = "; ".join(f"{f['field']}: {f['problem']}" for f in fields) or "invalid request"
    return InvalidRequest(message, details={"fields": fields})


def to_error(exc: BaseException, *, content_type: str | None = None) -> LakehookError | None:
    """The error an exception answers as, or None for an unexpected one (a 500)."""
    if isinstance(exc, LakehookError):
        return exc
    if isinstance(exc, (RequestUnsupportedContentType, RequestValidationError)):
        about_body = isinstance(exc, RequestUnsupportedContentType) or any(
            next(iter(e.get("loc") or ("",))) == "body" for e in exc.errors()
        )
        if about_body and content_type is not None and not is_json_content_type(content_type):
            return UnsupportedMediaType(
                f"send the request body as application/json (got {str(content_type)[:80]!r})"
            )
        if isinstance(exc, RequestUnsupportedContentType):
            return UnsupportedMediaType("send the request body as application/json")
        return from_validation(exc.errors())
    if isinstance(exc, ValidationError):
        return from_validation(exc.errors(include_input=False), in_request=False)
    if isinstance(exc, UnicodeDecodeError):
        return BadRequest("the request body is not UTF-8")
    if isinstance(exc, ServiceError) and 400 <= exc.status_code < 500:
        return _ServiceError(exc.status_code)
    return None


class _ServiceError(LakehookError):
    """A powertools ``ServiceError`` below 500: its status with a generic message."""

    code = "bad_request"

    def __init__(self, status: int) -> None:
        super().__init__(f"request refused (HTTP {status})")
        self.status = status


def error_response(exc: BaseException, *, content_type: str | None = None, where: str = "") -> Response[str]:
    """The one place an exception becomes an answer."""
    err = to_error(exc, content_type=content_type)
    if err is None:
        log.error("internal error in %s: %s", where or "request", type(exc).__name__, exc_info=exc)
        return json_response(500, internal())
    if err.status >= 500:
        log.warning("%s answered %d %s: %s", where or "request", err.status, err.code, err.message)
    return json_response(err.status, err.to_dict(), headers_for(err))


def error_document(exc: BaseException, *, where: str = "") -> tuple[int, dict[str, Any]]:
    """``(status, body)`` for an exception outside HTTP (the direct-invocation door)."""
    err = to_error(exc)
    if err is None:
        log.error("internal error in %s: %s", where or "invocation", type(exc).__name__, exc_info=exc)
        return 500, internal()
    return err.status, err.to_dict()
