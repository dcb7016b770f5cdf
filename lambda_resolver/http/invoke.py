"""The operator door by direct Lambda invocation: ``{"lakehook": "<action>", ...}`` events.

IAM is the authentication: only principals allowed ``lambda:InvokeFunction`` reach this code,
so no key is checked here. The answers are the HTTP API's documents and error shapes, wrapped
as ``{"status": <HTTP-like status>, "body": {...}}``.

Actions and their fields (validated like the HTTP bodies; unknown fields are a 422):

- ``start_run``: ``flow``, ``run_id``?, ``params``?, ``notify_url``? — 201 new / 200 existing
- ``get_run`` / ``cancel_run``: ``run_id``; ``list_runs``: ``flow``?, ``state``?, ``limit``?, ``cursor``?
- ``create_promise``: ``id``, ``timeout_s``?, ``job``?, ``notify_url``?; ``get_promise``: ``id``
- ``resolve``: ``id``, ``value``, ``idempotency_key``?; ``reject``: ``id``, ``error``,
  ``idempotency_key``?; ``heartbeat``: ``id``, ``extend_s``?
- ``publish``: ``manifest``, ``production``?; ``list_flows``; ``get_flow``: ``name``, ``version``?
- ``list_schedules``; ``get_schedule`` / ``pause_schedule`` / ``resume_schedule``: ``flow``
- ``reconcile``: ``limit``?
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from lambda_resolver.core.errors import BadRequest
from lambda_resolver.core.models import PromiseState, RunState
from lambda_resolver.http import operations as ops
from lambda_resolver.http.errors import error_document
from lambda_resolver.http.models import MAX_TIMEOUT_S, Cursor, ErrorInfo, FlowName, IdStr, Seconds, Strict
from lambda_resolver.http.operator_models import CreatePromiseBody, RepairRunBody, StartRunBody
from lambda_resolver.http.services import Services
from lambda_resolver.http.wire import ACTION_KEY, is_http_event

__all__ = ["ACTION_KEY", "handle_operator_event", "is_http_event"]


class _RunRef(Strict):
    run_id: IdStr


class _RepairRun(RepairRunBody):
    run_id: IdStr


class _ListRuns(Strict):
    flow: FlowName | None = None
    state: RunState | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: Cursor | None = None


class _PromiseRef(Strict):
    id: IdStr


class _Resolve(Strict):
    id: IdStr
    value: Any = None
    idempotency_key: str | None = Field(default=None, max_length=256)


class _Reject(Strict):
    id: IdStr
    error: ErrorInfo
    idempotency_key: str | None = Field(default=None, max_length=256)


class _Heartbeat(Strict):
    id: IdStr
    extend_s: Seconds | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)


class _Publish(Strict):
    manifest: dict[str, Any]
    production: bool = False


class _ScheduleRef(Strict):
    flow: IdStr


class _FlowRef(Strict):
    name: IdStr
    version: int | None = Field(default=None, ge=1)


class _Nothing(Strict):
    pass


class _Reconcile(Strict):
    limit: int = Field(default=100, ge=1, le=1000)


Action = Callable[[Services, Any], ops.Answer]

ACTIONS: dict[str, tuple[type[BaseModel], Action]] = {
    "start_run": (StartRunBody, lambda s, b: ops.start_run(s.get_engine(), b)),
    "get_run": (_RunRef, lambda s, b: ops.get_run(s.get_engine(), b.run_id)),
    "cancel_run": (_RunRef, lambda s, b: ops.cancel_run(s.get_engine(), b.run_id)),
    "repair_run": (_RepairRun, lambda s, b: ops.repair_run(s.get_engine(), b.run_id, b)),
    "list_runs": (
        _ListRuns,
        lambda s, b: ops.list_runs(
            s.get_engine(), flow=b.flow, state=b.state, limit=b.limit, cursor=b.cursor
        ),
    ),
    "create_promise": (CreatePromiseBody, lambda s, b: ops.create_promise(s, s.get_engine(), b)),
    "get_promise": (_PromiseRef, lambda s, b: ops.get_promise(s.get_engine(), b.id)),
    "resolve": (
        _Resolve,
        lambda s, b: ops.settle(
            s.get_engine(), b.id, PromiseState.RESOLVED, value=b.value, idempotency_key=b.idempotency_key
        ),
    ),
    "reject": (
        _Reject,
        lambda s, b: ops.settle(
            s.get_engine(),
            b.id,
            PromiseState.REJECTED,
            error=b.error.as_error(),
            idempotency_key=b.idempotency_key,
        ),
    ),
    "heartbeat": (_Heartbeat, lambda s, b: ops.heartbeat(s.get_engine(), b.id, b.extend_s)),
    "publish": (_Publish, lambda s, b: ops.publish(s.get_engine(), b.manifest, production=b.production)),
    "list_schedules": (_Nothing, lambda s, b: ops.list_schedules(s.get_engine())),
    "get_schedule": (_ScheduleRef, lambda s, b: ops.get_schedule(s.get_engine(), b.flow)),
    "pause_schedule": (_ScheduleRef, lambda s, b: ops.pause_schedule(s.get_engine(), b.flow)),
    "resume_schedule": (_ScheduleRef, lambda s, b: ops.resume_schedule(s.get_engine(), b.flow)),
    "list_flows": (_Nothing, lambda s, b: ops.list_flows(s.get_engine())),
    "get_flow": (_FlowRef, lambda s, b: ops.get_flow(s.get_engine(), b.name, b.version)),
    "reconcile": (_Reconcile, lambda s, b: ops.reconcile(s.get_engine(), b.limit)),
}


def handle_operator_event(event: Mapping[str, Any], services: Services) -> dict[str, Any]:
    """Run one direct-invocation action; never raises (errors come back as ``status``/``body``)."""
    action = event.get(ACTION_KEY) if isinstance(event, Mapping) else None
    try:
        model, run = _lookup(action)
        fields = {k: v for k, v in event.items() if k != ACTION_KEY}
        status, body = run(services, model.model_validate(fields))
    except Exception as exc:  # noqa: BLE001 - every failure becomes an answer, mapped in one place
        status, body = error_document(exc, where=f"direct invocation {str(action)[:40]}")
    return {"status": status, "body": body}


def _lookup(action: object) -> tuple[type[BaseModel], Action]:
    if not isinstance(action, str) or action not in ACTIONS:
        known = ", ".join(sorted(ACTIONS))
        raise BadRequest(f"unknown direct invocation: '{ACTION_KEY}' must be one of {known}")
    return ACTIONS[action]
