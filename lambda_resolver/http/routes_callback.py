"""The callback door, the Databricks webhook, and the Resonate-compatible ``/resolve``.

Each route's guard runs before the body is parsed (:meth:`Api.gate`: size, credentials, media
type); each handler then decodes the id, authorizes again (cheap: an HMAC) to learn the token's
nonce, calls one operation, answers JSON. The engine checks the nonce against the stored promise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from lambda_resolver.core.ids import check_id
from lambda_resolver.core.models import PromiseState
from lambda_resolver.core.promise_machine import canonical
from lambda_resolver.http import operations as ops
from lambda_resolver.http.api import (
    CALLBACK_BODY,
    CALLBACK_SECURITY,
    WEBHOOK_BODY,
    WEBHOOK_SECURITY,
    Api,
    responses,
)
from lambda_resolver.http.auth import require_callback, require_webhook
from lambda_resolver.http.models import (
    HeartbeatBody,
    PromiseDocument,
    RejectBody,
    ResolveBody,
    WebhookAnswer,
    WebhookPayload,
)
from lambda_resolver.http.services import Services
from lambda_resolver.http.wire import json_response, path_id

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=256,
        description="Retries of one settle carry the same key; the first one that lands wins.",
    ),
]
SETTLE_ANSWERS = responses({200: PromiseDocument}, 400, 401, 404, 409, 413, 415)
TAGS = ["callback door"]


def register(api: Api, services: Services) -> None:
    """Add the callback door and the webhook (and ``/resolve`` when ``resonate_compat``)."""
    router = api.router

    def admit(raw_id: str) -> tuple[str, str | None]:
        promise_id = path_id(raw_id, "promise id")
        return promise_id, require_callback(services, router.current_event.headers, promise_id)

    def callback_guard(headers: Mapping[str, str], params: Mapping[str, str]) -> None:
        require_callback(services, headers, path_id(params["promise_id"], "promise id"))

    def webhook_guard(headers: Mapping[str, str], params: Mapping[str, str]) -> None:
        require_webhook(services, headers)

    door: dict[str, Any] = {"body": True, "max_body": CALLBACK_BODY, "guard": callback_guard}

    @api.post(
        "/v1/promises/<promise_id>/resolve",
        **door,
        summary="Resolve a promise with a JSON value",
        tags=TAGS,
        security=CALLBACK_SECURITY,
        responses=SETTLE_ANSWERS,
    )
    def resolve_promise(
        promise_id: str, body: Annotated[ResolveBody, Body()], idempotency_key: IdempotencyKey = None
    ) -> Response[str]:
        pid, nonce = admit(promise_id)
        status, doc = ops.settle(
            services.get_engine(),
            pid,
            PromiseState.RESOLVED,
            value=body.value,
            idempotency_key=idempotency_key,
            token_nonce=nonce,
        )
        return json_response(status, doc)

    @api.post(
        "/v1/promises/<promise_id>/reject",
        **door,
        summary="Reject a promise with an error",
        tags=TAGS,
        security=CALLBACK_SECURITY,
        responses=SETTLE_ANSWERS,
    )
    def reject_promise(
        promise_id: str, body: Annotated[RejectBody, Body()], idempotency_key: IdempotencyKey = None
    ) -> Response[str]:
        pid, nonce = admit(promise_id)
        status, doc = ops.settle(
            services.get_engine(),
            pid,
            PromiseState.REJECTED,
            error=body.error.as_error(),
            idempotency_key=idempotency_key,
            token_nonce=nonce,
        )
        return json_response(status, doc)

    @api.post(
        "/v1/promises/<promise_id>/heartbeat",
        **door,
        summary="Keep a pending promise alive (push its deadline out)",
        tags=TAGS,
        security=CALLBACK_SECURITY,
        responses=responses({200: PromiseDocument}, 400, 401, 404, 409, 415),
    )
    def heartbeat_promise(
        promise_id: str, body: Annotated[HeartbeatBody | None, Body()] = None
    ) -> Response[str]:
        pid, nonce = admit(promise_id)
        extend_s = body.extend_s if body is not None else None
        return json_response(*ops.heartbeat(services.get_engine(), pid, extend_s, token_nonce=nonce))

    @api.post(
        "/v1/webhooks/databricks",
        body=True,
        max_body=WEBHOOK_BODY,
        guard=webhook_guard,
        summary="Databricks job notification (a hint: the run is re-read)",
        tags=["webhooks"],
        security=WEBHOOK_SECURITY,
        responses=responses({202: WebhookAnswer}, 400, 401, 404, 413, 415),
    )
    def databricks_webhook(body: Annotated[WebhookPayload, Body()]) -> Response[str]:
        require_webhook(services, router.current_event.headers)
        return json_response(*ops.webhook(services.get_engine(), body))

    if services.resonate_compat:
        _register_compat(api, services)


def _register_compat(api: Api, services: Services) -> None:
    @api.post(
        "/resolve",
        summary="Resonate-compatible resolve (no token: loopback/dev only)",
        description=(
            "The request shape of Resonate's 'Databricks in the loop' example. It carries no "
            "credentials: anyone who can reach this URL can resolve any promise. Enable it only "
            "on a loopback or otherwise private resolver."
        ),
        tags=["compat"],
        responses=responses({200: PromiseDocument}, 400, 404, 409, 413),
    )
    def resonate_resolve(
        promise_id: Annotated[str, Query(alias="id", max_length=512)],
        value: Annotated[str, Query(max_length=300_000)],
    ) -> Response[str]:
        pid = check_id(promise_id, "promise id")
        parsed = compat_value(value)
        status, doc = ops.settle(
            services.get_engine(),
            pid,
            PromiseState.RESOLVED,
            value=parsed,
            idempotency_key=compat_key(pid, parsed),
        )
        return json_response(status, doc)


def compat_key(promise_id: str, value: Any) -> str:
    """The Idempotency-Key of a ``/resolve``: the promise and the value, so the same request
    again is a duplicate (200) and a different value is a conflict (409), never a replay."""
    digest = hashlib.sha256(canonical(value).encode()).hexdigest()[:32]
    return f"resonate:{promise_id}:{digest}"


def compat_value(text: str) -> Any:
    """The ``value`` query parameter: a string, unless it is a JSON object or array."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped, parse_constant=_refuse)
        except (ValueError, RecursionError):
            return text
        if isinstance(parsed, (dict, list)):
            return parsed
    return text


def _refuse(name: str) -> Any:
    raise ValueError(name)
