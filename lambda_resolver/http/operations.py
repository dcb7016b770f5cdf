"""What each request does, once validated and authorized: one engine call and its document.

Shared by the HTTP routes and the direct-invocation operator door, so both answer with the
same documents and statuses. Each returns ``(status, body)``; errors are raised (the error
tree) and mapped by the caller.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lambda_resolver.core import notifications
from lambda_resolver.core.engine import Engine, promise_document
from lambda_resolver.core.errors import BadRequest, UnknownFlow
from lambda_resolver.core.ids import check_id
from lambda_resolver.core.models import JSON, PromiseState, RunState
from lambda_resolver.http.documents import (
    MAX_ANSWER_BYTES,
    answer_size,
    flow_summary,
    run_document,
    run_summary,
    schedule_document,
    task_of_run,
)
from lambda_resolver.http.errors import ParamsTooLarge
from lambda_resolver.http.services import Services

if TYPE_CHECKING:  # the operator models are built only with the operator routes (see .app)
    from lambda_resolver.http.models import WebhookPayload
    from lambda_resolver.http.operator_models import CreatePromiseBody, RepairRunBody, StartRunBody

Answer = tuple[int, dict[str, Any]]


# -- runs ----------------------------------------------------------------------------------------
MAX_PARAMS = 100
MAX_PARAM_BYTES = 16 * 1024  # one value, as the text the job receives
MAX_PARAMS_BYTES = 64 * 1024  # names and values together: a run item stays far below 400 KB


def check_params(params: Mapping[str, Any], what: str = "params") -> None:
    """Refuse (413 ``params_too_large``) parameters a run or a job could not carry: more than
    ``MAX_PARAMS``, a value over ``MAX_PARAM_BYTES`` or all over ``MAX_PARAMS_BYTES``."""
    if len(params) > MAX_PARAMS:
        raise ParamsTooLarge(f"{what} has {len(params)} entries; at most {MAX_PARAMS}")
    total = 0
    for name, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value)
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_PARAM_BYTES:
            raise ParamsTooLarge(
                f"{what} '{str(name)[:64]}' is {size} bytes; each value is at most {MAX_PARAM_BYTES}: "
                "pass large data by reference (a table name, a volume path)"
            )
        total += size + len(str(name).encode("utf-8", "surrogatepass"))
    if total > MAX_PARAMS_BYTES:
        raise ParamsTooLarge(f"{what} take {total} bytes in all; at most {MAX_PARAMS_BYTES}")


def start_run(engine: Engine, body: StartRunBody) -> Answer:
    """Start a flow run: 201 with its document, or 200 with the run this ``run_id`` started."""
    check_params(body.params)
    if body.notify_url is not None:
        notifications.check_url(engine.ctx, body.notify_url)  # 400: which receiver to configure
    run, created = engine.start_run(
        body.flow, run_id=body.run_id, params=body.params, notify_url=body.notify_url
    )
    return (201 if created else 200), run_document(engine, run.run_id)


def get_run(engine: Engine, run_id: str, *, values: bool = True) -> Answer:
    """A run's document (404 if unknown); ``values=False`` leaves task values out."""
    return 200, run_document(engine, check_id(run_id, "run_id"), values=values)


def get_task(
    engine: Engine, run_id: str, task_key: str, *, cursor: str | None = None, limit: int = 100
) -> Answer:
    """One task of a run, its value in full (404 for an unknown run or task); a for_each task's
    with a page of its iterations from ``cursor``."""
    run_id, task_key = check_id(run_id, "run_id"), check_id(task_key, "task_key")
    return 200, task_of_run(engine, run_id, task_key, cursor=cursor, limit=limit)


def cancel_run(engine: Engine, run_id: str) -> Answer:
    """Cancel a run (a finished run is left as it ended, like Databricks) and answer its document."""
    engine.get_run(check_id(run_id, "run_id"))  # 404 for an unknown run, before any write
    engine.stop_run(run_id)
    return 200, run_document(engine, run_id)


def repair_run(engine: Engine, run_id: str, body: RepairRunBody) -> Answer:
    """Repair a run that ended (DESIGN §9) and answer its document."""
    check_params(body.params)
    engine.repair_run(
        check_id(run_id, "run_id"),
        body.rerun_tasks,
        rerun_all_failed_tasks=body.rerun_all_failed_tasks,
        rerun_dependent_tasks=body.rerun_dependent_tasks,
        latest_repair_id=body.latest_repair_id,
        params=body.params,
    )
    return 200, run_document(engine, run_id)


def list_runs(
    engine: Engine, *, flow: str | None, state: RunState | None, limit: int, cursor: str | None = None
) -> Answer:
    """A page of runs, newest first, without their tasks; ``next_cursor`` continues it. A page
    that would pass Lambda's answer limit ends early (``truncated``), its cursor where it ended."""
    from lambda_resolver.core.history import cursor_of  # the run history: operator requests only

    found = engine.list_runs(flow=flow, state=state, limit=limit, cursor=cursor)
    docs: list[dict[str, Any]] = []
    room = MAX_ANSWER_BYTES - 400
    for r in found.runs:
        doc = run_summary(r)
        room -= answer_size(doc) + 1
        if room < 0 and docs:  # the answer would pass Lambda's limit: stop here, and say so
            return 200, {"runs": docs, "next_cursor": cursor_of(found.runs[len(docs) - 1]), "truncated": True}
        docs.append(doc)
    return 200, {"runs": docs, "next_cursor": found.next_cursor}


# -- promises ------------------------------------------------------------------------------------
def create_promise(services: Services, engine: Engine, body: CreatePromiseBody) -> Answer:
    """A standalone promise (201 new, 200 existing); with ``job``, its job starts for it."""
    if body.notify_url is not None:
        notifications.check_url(engine.ctx, body.notify_url)
    job: dict[str, Any] | None = None
    if body.job is not None:
        check_params(body.job.params, "job.params")
        job_id = body.job.job_id
        key = body.job.job_key
        if key is not None:
            job_id = services.job_id_for(key)
            if job_id is None:
                raise BadRequest(
                    f"unknown job key '{key[:128]}': publish the bundle first (`lakehook publish`) "
                    "so its deployed job ids are known, or pass job_id"
                )
        job = {"job_id": job_id, "params": param_strings(body.job.params)}
        if key is not None:
            job["job_key"] = key
    promise, created = engine.standalone.create(
        body.id, timeout_s=body.timeout_s, job=job, notify_url=body.notify_url
    )
    return (201 if created else 200), promise_document(promise)


def get_promise(engine: Engine, promise_id: str) -> Answer:
    """A promise's document (404 if unknown)."""
    return 200, promise_document(engine.get_promise(check_id(promise_id, "promise id")))


def settle(
    engine: Engine,
    promise_id: str,
    state: PromiseState,
    *,
    value: JSON = None,
    error: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    token_nonce: str | None = None,
) -> Answer:
    """Resolve or reject: 200 with the stored promise (a duplicate too); 409 if it differs.
    ``token_nonce``: the callback token's nonce (None for an operator)."""
    settled = engine.settle(
        check_id(promise_id, "promise id"),
        state,
        value=value,
        error=error,
        idempotency_key=idempotency_key,
        token_nonce=token_nonce,
    )
    return 200, promise_document(settled.promise)


def heartbeat(
    engine: Engine, promise_id: str, extend_s: float | None, *, token_nonce: str | None = None
) -> Answer:
    """Push a pending promise's deadline out; fractions of a second round up."""
    seconds = None if extend_s is None else max(1, math.ceil(extend_s))
    promise = engine.heartbeat(check_id(promise_id, "promise id"), seconds, token_nonce=token_nonce)
    return 200, promise_document(promise)


# -- flows ---------------------------------------------------------------------------------------
def publish(engine: Engine, manifest: Mapping[str, Any], *, production: bool = False) -> Answer:
    """Store a compiled flow (``FlowManifest.to_dict`` shape) as its next version; ``production``:
    the bundle target is ``mode: production`` (a first schedule then starts active)."""
    from lambda_resolver.core.manifest_checks import parse_manifest  # publishing only: off the callback path

    parsed = parse_manifest(manifest)
    stored = engine.publish(parsed, production=production)
    return 201, {"flow": stored.name, "version": stored.version}


def list_flows(engine: Engine) -> Answer:
    """The latest version of every published flow, by name."""
    flows = sorted(engine.list_flows(), key=lambda m: m.name)
    return 200, {"flows": [flow_summary(m) for m in flows]}


def get_flow(engine: Engine, name: str, version: int | None = None) -> Answer:
    """A flow's manifest: the latest version, or ``version``."""
    manifest = engine.get_flow(check_id(name, "flow name"), version)
    if manifest is None:
        what = f"flow '{name}'" + (f" version {version}" if version is not None else "")
        raise UnknownFlow(f"{what} does not exist; publish it first (`lakehook publish`)")
    return 200, manifest.to_dict()


# -- schedules -----------------------------------------------------------------------------------
def get_schedule(engine: Engine, flow: str) -> Answer:
    """A flow's schedule and switch (404 for an unknown flow; ``schedule`` null if it has none)."""
    return 200, schedule_document(flow, engine.schedules.get(check_id(flow, "flow name")))


def list_schedules(engine: Engine) -> Answer:
    """Every flow's schedule record, by flow."""
    return 200, {"schedules": [schedule_document(r.flow, r) for r in engine.schedules.list()]}


def pause_schedule(engine: Engine, flow: str) -> Answer:
    """Stop firing a flow's schedule (400 if it has none, naming what to add)."""
    return 200, schedule_document(flow, engine.schedules.pause(check_id(flow, "flow name")))


def resume_schedule(engine: Engine, flow: str) -> Answer:
    """Fire a flow's schedule from its next slot after now (400 if it has none)."""
    return 200, schedule_document(flow, engine.schedules.resume(check_id(flow, "flow name")))


# -- signals -------------------------------------------------------------------------------------
def webhook(engine: Engine, payload: WebhookPayload) -> Answer:
    """A Databricks job notification: re-read the run it names (or its parent), never trust it.

    Always 202 ``{"accepted": true}``, whatever was found: the answer carries no data, so the
    webhook credential cannot read promises by guessing Databricks run ids, and Databricks does
    not retry a run lakehook does not know.
    """
    run = payload.run
    for raw in (run.run_id, run.parent_run_id) if run is not None else ():
        run_id = _databricks_id(raw)
        if run_id is not None and engine.on_databricks_run(run_id) is not None:
            break
    return 202, {"accepted": True}


def reconcile(engine: Engine, limit: int = 100) -> Answer:
    """One pass of the safety net (the direct-invocation door; the schedule calls it too)."""
    return 200, {"counts": engine.reconcile(limit)}


def _databricks_id(raw: int | str | None) -> int | None:
    if isinstance(raw, bool) or raw is None:
        return None
    text = str(raw).strip()
    return int(text) if text.isdigit() and len(text) <= 19 else None


def param_strings(params: Mapping[str, Any]) -> dict[str, str]:
    """Job parameters as Databricks takes them: strings kept, anything else as JSON text."""
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
