"""Real Lambda event JSON (tests/events) filled in for one request: Function URL or API Gateway."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

EVENTS = Path(__file__).resolve().parent.parent / "events"
TEMPLATES = {"function_url": "function_url_request.json", "http_api": "http_api_request.json"}


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


def http_event(
    kind: str,
    method: str,
    target: str,
    *,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A payload-2.0 event for ``method target`` (target may carry ``?query``)."""
    event = copy.deepcopy(load_event(TEMPLATES[kind]))
    path, _, query = target.partition("?")
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = query
    params: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        params[k] = f"{params[k]},{v}" if k in params else v  # how payload 2.0 joins repeats
    if params:
        event["queryStringParameters"] = params
    else:
        event.pop("queryStringParameters", None)
    for k, v in (headers or {}).items():
        event["headers"][k.lower()] = v
    if kind == "http_api":
        event["routeKey"] = event["requestContext"]["routeKey"] = "ANY /{proxy+}"
        event["pathParameters"] = {"proxy": path.lstrip("/")}
    if body is None:
        event.pop("body", None)
        event["isBase64Encoded"] = False
    else:
        raw = body.encode() if isinstance(body, str) else body
        ctype = event["headers"].get("content-type", "")
        textual = ctype.startswith(("application/json", "text/"))
        event["body"] = raw.decode() if textual else base64.b64encode(raw).decode()
        event["isBase64Encoded"] = not textual
    return event
