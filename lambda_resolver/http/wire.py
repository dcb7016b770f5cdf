"""JSON on the wire: decoding request bodies strictly, encoding answers, reading headers.

Request bodies are JSON as RFC 8259 defines it: ``NaN``/``Infinity`` (which Python's ``json``
accepts), numbers beyond a double's range (``1e400``, which Python reads as infinity and would
answer as ``Infinity``) and nesting deep enough to exhaust the parser are "not valid JSON" (400),
never a 500 nor a stored value that no JSON reader can read back. Answers are compact UTF-8 JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response

from lambda_resolver.core.ids import check_id

JSON_TYPE = "application/json"
ACTION_KEY = "lakehook"  # a direct operator invocation: {"lakehook": "<action>", ...}


def is_http_event(event: object) -> bool:
    """Whether ``event`` came through a Function URL or API Gateway (not a direct invocation).

    HTTP events (payload 2.0, and REST/1.0 for good measure) carry ``requestContext`` with the
    request's method; a direct operator invocation carries ``"lakehook": "<action>"`` instead.
    """
    if not isinstance(event, Mapping) or ACTION_KEY in event:
        return False
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return False
    http = context.get("http")
    return (isinstance(http, Mapping) and "method" in http) or "httpMethod" in event


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def loads_strict(text: str | bytes) -> Any:
    """Parse a request body; anything that is not strict JSON raises ``json.JSONDecodeError``.

    The resolver's ``json_body_deserializer``: powertools turns a ``JSONDecodeError`` into a
    request validation error, which the edge answers 400 "not valid JSON".
    """
    doc = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    try:
        return json.loads(doc, parse_constant=_no_constants, parse_float=_finite)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise json.JSONDecodeError(message, doc, 0) from None


def dumps(body: Any) -> str:
    """An answer's body: compact JSON, UTF-8 kept as is."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[str]:
    """A JSON answer with ``status``; ``Cache-Control: no-store`` since every answer is live state."""
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    return Response(status_code=status, content_type=JSON_TYPE, body=dumps(body), headers=all_headers)


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json``; missing → ``""``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_content_type(content_type: str | None) -> bool:
    """A body is read as JSON only when it says so: a missing Content-Type is not JSON (a
    browser's cross-site ``fetch`` may send a body without one)."""
    return media_type(content_type) == JSON_TYPE


def path_id(raw: str, what: str) -> str:
    """A path segment as an id: percent-decoded (clients send ``quote(id, safe='')``), then
    checked against ``[A-Za-z0-9._:-]{1,128}`` (400 ``invalid_id`` otherwise)."""
    return check_id(unquote(raw), what)


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A request header by case-insensitive name (Function URL events lower-case them already)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None
