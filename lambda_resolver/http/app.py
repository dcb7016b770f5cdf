"""The HTTP API as a powertools resolver: build it, serve an event, document it.

One set of routes (an :class:`~lambda_resolver.http.api.Api`) is built per app and included in
a ``LambdaFunctionUrlResolver`` (``kind="function_url"``) or an ``APIGatewayHttpResolver``
(``kind="http_api"``; payload format 2.0), so both serve identical routes. Validation is on;
every error — ours, powertools' 404 and validation errors, and the unexpected — goes through
:func:`lambda_resolver.http.errors.error_response`.

A resolver keeps the current request in class-level state (powertools' design for Lambda, one
event at a time per process): never resolve two events concurrently in one process. The local
server serializes requests for this reason.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    LambdaFunctionUrlResolver,
    Response,
)
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

import lambda_resolver
from lambda_resolver.http import routes_callback
from lambda_resolver.http.api import Api, responses
from lambda_resolver.http.auth import OPERATOR_HEADER
from lambda_resolver.http.errors import MethodNotAllowed, RouteNotFound, error_response, internal
from lambda_resolver.http.models import Health
from lambda_resolver.http.services import Services
from lambda_resolver.http.wire import dumps, is_http_event, json_response, loads_strict

log = logging.getLogger("lakehook")

Kind = Literal["function_url", "http_api"]
GATE = "lakehook_api"
TITLE = "lakehook resolver"
POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def security_schemes() -> dict[str, Any]:
    """The OpenAPI security schemes. Built when the document is: powertools' OpenAPI models cost
    ~100-250 ms to import, and no request but ``/openapi.json`` needs them."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, HTTPBase, HTTPBearer

    return {
        "promiseToken": HTTPBearer(
            bearerFormat="<key id>.<HMAC of the promise id>",
            description=(
                "The promise's callback token, from the `lakehook` handle; settles that promise only."
            ),
        ),
        "operatorBearer": HTTPBearer(description="The operator key, as a bearer token."),
        "operatorKey": APIKey.model_validate(
            {"type": "apiKey", "in": "header", "name": OPERATOR_HEADER, "description": "The operator key."}
        ),
        "webhookBasic": HTTPBase(
            scheme="basic", description="The Databricks notification destination's user and password."
        ),
    }


def create_app(services: Services, *, kind: Kind = "function_url") -> ApiGatewayResolver:
    """The API for ``services`` as a powertools resolver of ``kind``; call ``resolve(event, ctx)``
    (or :func:`handle`) with a Function URL / HTTP API v2 event."""
    quiet_powertools()
    resolver_class = {"function_url": LambdaFunctionUrlResolver, "http_api": APIGatewayHttpResolver}[kind]
    app: ApiGatewayResolver = resolver_class(
        enable_validation=True,
        debug=False,  # debug mode prints whole events, Authorization headers included
        json_body_deserializer=loads_strict,
        serializer=dumps,
    )
    api = build_api(services, app)
    app.include_router(api.router)
    setattr(app, GATE, api)  # handle() runs api.gate before the resolver parses anything

    def any_error(exc: Exception) -> Response[str]:
        event = app.current_event
        if isinstance(exc, NotFoundError):  # no route matched: powertools' 404, in our shape
            return error_response(_unmatched(api, event.http_method, event.path))
        where = f"{event.http_method} {event.path}"[:200]
        return error_response(exc, content_type=event.headers.get("content-type"), where=where)

    app.exception_handler(Exception)(any_error)  # every error, one mapping
    return app


def quiet_powertools() -> None:
    """Keep powertools' event handler at INFO, whatever ``POWERTOOLS_DEBUG`` says: at DEBUG it
    logs each route's arguments — request bodies, values, everything but the headers."""
    handler_log = logging.getLogger("aws_lambda_powertools.event_handler")
    if handler_log.getEffectiveLevel() < logging.INFO:
        handler_log.setLevel(logging.INFO)


def build_api(services: Services, app: ApiGatewayResolver) -> Api:
    """Every route, on a fresh :class:`Api` (the same routes whatever the resolver kind). The
    operator routes and their models are registered on the first request no callback route serves
    (or for ``/openapi.json``): a container that only answers callbacks never builds them."""
    api = Api()
    routes_callback.register(api, services)

    def operator_routes(more: Api) -> None:
        from lambda_resolver.http import routes_operator

        routes_operator.register(more, services)

    api.defer(operator_routes)
    schema: list[str] = []  # built on first request: it costs tens of milliseconds

    @api.get("/healthz", summary="Liveness", tags=["meta"], responses=responses({200: Health}))
    def healthz() -> Response[str]:
        return json_response(200, {"ok": True})

    @api.get("/openapi.json", summary="This document", tags=["meta"], include_in_schema=False)
    def openapi() -> Response[str]:
        if not schema:
            schema.append(openapi_document(app))
        return Response(200, "application/json", schema[0], headers={"Cache-Control": "no-store"})

    return api


def openapi_document(app: ApiGatewayResolver) -> str:
    """The OpenAPI 3.1 document of ``app``: routes, bodies, answers, security schemes — no secrets
    (it is built from code only, never from :class:`Services`)."""
    api = getattr(app, GATE, None)
    if isinstance(api, Api):
        api.complete(app)  # every route, the deferred ones too
    text = app.get_openapi_json_schema(
        title=TITLE,
        version=lambda_resolver.__version__,
        description=(
            "Durable promises and flows of Databricks jobs, settled by callbacks. Errors are "
            '`{"error": {"code", "message", ...}}`.'
        ),
        security_schemes=security_schemes(),
    )
    doc = json.loads(text)
    # powertools always adds its own 422 schemas; we answer 422 in our error shape instead.
    schemas = doc.get("components", {}).get("schemas", {})
    theirs = {name: schemas.pop(name) for name in POWERTOOLS_SCHEMAS if name in schemas}
    remaining = json.dumps(doc)
    if any(f"#/components/schemas/{name}" in remaining for name in theirs):
        schemas.update(theirs)  # still referenced somewhere: keep them
    return dumps(doc)


def _unmatched(api: Api, method: str, path: str) -> Exception:
    allow = api.allowed(path)
    shown = f"{method} {path}"[:200]
    if allow:
        return MethodNotAllowed(f"{shown} is not allowed; this path takes {', '.join(allow)}", allow)
    return RouteNotFound(f"no such route: {shown}")


def handle(event: Mapping[str, Any], context: Any, app: ApiGatewayResolver) -> dict[str, Any]:
    """Serve one HTTP event, with one access-log line (method, path, status, time; never a
    header). A malformed event answers 400, a failure outside the routes 500: nothing raises
    into the Lambda runtime."""
    started = time.monotonic()
    described = _describe(event)
    method, path = described or ("?", "?")
    if described is None:
        log.warning("malformed HTTP event: no requestContext.http.method or rawPath; answering 400")
        answer = _raw(400, {"error": {"code": "bad_request", "message": "malformed request event"}})
    else:
        try:
            answer = _gate(app, event, method, path) or app.resolve(event, context)
        except Exception:
            log.exception("internal error resolving %s %s", method, path)
            answer = _raw(500, internal())
    log.info(
        "%s %s -> %s (%.1f ms)", method, path, answer.get("statusCode"), (time.monotonic() - started) * 1000
    )
    return answer


def _gate(app: ApiGatewayResolver, event: Mapping[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The refusal of a request before it is parsed (size, credentials, media type), or None."""
    api = getattr(app, GATE, None)
    if not isinstance(api, Api):
        return None
    stage = (event.get("requestContext") or {}).get("stage")
    if isinstance(stage, str) and stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]  # an API Gateway stage prefix, as powertools strips it
    if not api.serves(method, path):
        api.complete(app)  # not a callback: the operator routes (or a 404/405 that needs them all)
    try:
        api.gate(event, method, path)
    except Exception as exc:  # noqa: BLE001 - every refusal goes through the one error mapping
        response = error_response(exc, where=f"{method} {path}"[:200])
        headers = {"Content-Type": "application/json", **{k: str(v) for k, v in response.headers.items()}}
        return {"statusCode": response.status_code, "headers": headers, "body": response.body}
    return None


def make_handler(
    services: Services, *, kind: Kind = "function_url"
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """A Lambda handler: HTTP events to the API, direct invocations to the operator door."""
    app = create_app(services, kind=kind)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if is_http_event(event):
            return handle(event, context, app)
        from lambda_resolver.http.invoke import handle_operator_event  # the operator door's models

        return handle_operator_event(event, services)

    return handler


def _describe(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(method, path)`` of a payload-2.0 event, or None if it is not one."""
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    http = context.get("http") if isinstance(context, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else None
    path = event.get("rawPath") if isinstance(event, Mapping) else None
    if not isinstance(method, str) or not isinstance(path, str):
        return None
    return method[:16], path[:200]


def _raw(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": dumps(body),
        "isBase64Encoded": False,
    }
