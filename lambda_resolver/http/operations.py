"""What each request does, once validated and authorized: one engine call and its document.

Shared by the HTTP routes and the direct-invocation operator door, so both answer with the
same documents and statuses. Each returns ``(status, body)``; errors are raised (the error
tree) and mapped by the caller.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from lambda_resolver.core.engine import Engine, promise_document
from lambda_resolver.core.errors import BadRequest, UnknownFlow
from lambda_resolver.core.ids import check_id
from lambda_resolver.core.manifest import FlowManifest, TaskKind
from lambda_resolver.core.models import JSON, PromiseState, RunState
from lambda_resolver.http.documents import (
    MAX_ANSWER_BYTES,
    answer_size,
    flow_summary,
    run_document,
    run_summary,
    task_of_run,
)
from lambda_resolver.http.errors import ParamsTooLarge
from lambda_resolver.http.models import CreatePromiseBody, StartRunBody, WebhookPayload
from lambda_resolver.http.services import Services

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
    run, created = engine.start_run(
        body.flow, run_id=body.run_id, params=body.params, notify_url=body.notify_url
    )
    return (201 if created else 200), run_document(engine, run.run_id)


def get_run(engine: Engine, run_id: str, *, values: bool = True) -> Answer:
    """A run's document (404 if unknown); ``values=False`` leaves task values out."""
    return 200, run_document(engine, check_id(run_id, "run_id"), values=values)


def get_task(engine: Engine, run_id: str, task_key: str) -> Answer:
    """One task of a run, its value in full (404 for an unknown run or task)."""
    return 200, task_of_run(engine, check_id(run_id, "run_id"), check_id(task_key, "task_key"))


def cancel_run(engine: Engine, run_id: str) -> Answer:
    """Cancel a run (a finished run is left as it ended, like Databricks) and answer its document."""
    engine.get_run(check_id(run_id, "run_id"))  # 404 for an unknown run, before any write
    engine.stop_run(run_id)
    return 200, run_document(engine, run_id)


def list_runs(engine: Engine, *, flow: str | None, state: RunState | None, limit: int) -> Answer:
    """Runs, newest first, without their tasks."""
    runs = engine.ctx.store.list_runs(flow=flow, state=state, limit=limit)
    docs: list[dict[str, Any]] = []
    room = MAX_ANSWER_BYTES - 100
    for r in runs:
        doc = run_summary(r)
        room -= answer_size(doc) + 1
        if room < 0:  # the answer would pass Lambda's limit: stop, and say so
            return 200, {"runs": docs, "truncated": True}
        docs.append(doc)
    return 200, {"runs": docs}


# -- promises ------------------------------------------------------------------------------------
def create_promise(services: Services, engine: Engine, body: CreatePromiseBody) -> Answer:
    """A standalone promise (201 new, 200 existing); with ``job``, its job starts for it."""
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
def publish(engine: Engine, manifest: Mapping[str, Any]) -> Answer:
    """Store a compiled flow (``FlowManifest.to_dict`` shape) as its next version."""
    parsed = parse_manifest(manifest)
    stored = engine.publish(parsed)
    return 201, {"flow": stored.name, "version": stored.version}


def list_flows(engine: Engine) -> Answer:
    """The latest version of every published flow, by name."""
    flows = sorted(engine.ctx.store.list_flows(), key=lambda m: m.name)
    return 200, {"flows": [flow_summary(m) for m in flows]}


def get_flow(engine: Engine, name: str, version: int | None = None) -> Answer:
    """A flow's manifest: the latest version, or ``version``."""
    manifest = engine.ctx.store.get_flow(check_id(name, "flow name"), version)
    if manifest is None:
        what = f"flow '{name}'" + (f" version {version}" if version is not None else "")
        raise UnknownFlow(f"{what} does not exist; publish it first (`lakehook publish`)")
    return 200, manifest.to_dict()


def parse_manifest(doc: Mapping[str, Any]) -> FlowManifest:
    """A manifest dict as a :class:`FlowManifest`, with the checks a run relies on: every field of
    its type and range, task keys as Databricks takes them, unique task keys, known dependencies,
    no cycle, and a deployed job id for every job task."""
    shape = manifest_shape_problems(doc)
    if shape:
        raise BadRequest("invalid flow manifest: " + "; ".join(shape[:20]))
    try:
        manifest = FlowManifest.from_dict(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)[:200]
        raise BadRequest(f"invalid flow manifest: {what}") from None
    check_id(manifest.name, "flow name")
    problems: list[str] = []
    keys = [t.key for t in manifest.tasks]
    if not keys:
        problems.append("it has no tasks")
    if len(set(keys)) != len(keys):
        problems.append("task keys repeat")
    known = set(keys)
    for t in manifest.tasks:
        problems += [
            f"task '{t.key}' depends on unknown task '{d.task_key}'"
            for d in t.depends_on
            if d.task_key not in known
        ]
        if t.kind in (TaskKind.JOB, TaskKind.EXTERNAL):
            ref = next((j for j in manifest.jobs if j.key == t.job_key), None)
            if ref is None:
                problems.append(f"task '{t.key}' points at job '{t.job_key}', which is not in jobs")
            elif t.kind is TaskKind.JOB and ref.job_id is None:
                problems.append(f"job '{ref.key}' has no job_id: publish maps job keys to deployed ids")
    if not problems and _has_cycle(manifest):
        problems.append("its dependencies form a cycle")
    if problems:
        raise BadRequest("invalid flow manifest: " + "; ".join(problems[:20]))
    return manifest


TASK_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")  # Databricks' task_key; a promise id embeds it
MAX_SECONDS = 10 * 365 * 24 * 3600  # no timeout or retry interval is longer than ten years
_KINDS = frozenset(k.value for k in TaskKind)


def manifest_shape_problems(doc: Mapping[str, Any]) -> list[str]:
    """What in a manifest document is of the wrong type or out of range (empty: nothing).

    ``FlowManifest.from_dict`` coerces (``str(v)``, ``int(v)``); a value it would coerce into
    nonsense — a task key that cannot be part of a promise id, parameters that are objects, a
    timeout past what a clock can add — would be stored and break the runs started from it.
    """
    problems: list[str] = []

    def need(ok: bool, what: str) -> bool:
        if not ok:
            problems.append(what)
        return ok

    def is_int(value: Any, low: int, high: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    def optional(d: Mapping[str, Any], key: str, check: Callable[[Any], bool], what: str) -> None:
        if key in d:
            need(check(d[key]), what)

    missing = [f"missing field '{key}'" for key in ("name", "tasks") if key not in doc]
    if missing:
        return missing
    need(isinstance(doc.get("name"), str), "name must be a string")
    for key in ("display_name", "source"):
        optional(doc, key, lambda v: isinstance(v, str), f"{key} must be a string")
    optional(doc, "version", lambda v: is_int(v, 0, 2**31), "version must be a whole number")
    optional(doc, "max_concurrent_runs", lambda v: is_int(v, 0, 1000), "max_concurrent_runs must be 0..1000")
    optional(doc, "queue", lambda v: isinstance(v, bool), "queue must be true or false")
    optional(doc, "timeout_seconds", lambda v: is_int(v, 0, MAX_SECONDS), "timeout_seconds is out of range")
    params = doc.get("parameters", [])
    if need(isinstance(params, list), "parameters must be a list"):
        for p in params:
            need(
                isinstance(p, dict)
                and isinstance(p.get("name"), str)
                and bool(p["name"])
                and isinstance(p.get("default", ""), str),
                "each parameter is {name, default} with string values",
            )
    jobs = doc.get("jobs", [])
    if need(isinstance(jobs, list), "jobs must be a list"):
        for j in jobs:
            if not need(isinstance(j, dict), "each job is an object"):
                continue
            need(
                isinstance(j.get("key"), str) and isinstance(j.get("name", ""), str),
                "a job's key and name are strings",
            )
            optional(
                j, "job_id", lambda v: v is None or is_int(v, 1, 2**63 - 1), "a job_id is a positive integer"
            )
            optional(j, "external", lambda v: isinstance(v, bool), "a job's external is true or false")
    tasks = doc.get("tasks")
    if not isinstance(tasks, list):
        return [*problems, "tasks must be a list"]
    for t in tasks:
        if not need(isinstance(t, dict), "each task is an object"):
            continue
        key = t.get("key")
        if not need(
            isinstance(key, str) and bool(TASK_KEY.fullmatch(key)), "task keys match [A-Za-z0-9_-]{1,100}"
        ):
            continue
        need(t.get("kind") in _KINDS, f"task '{key}': kind is one of {', '.join(sorted(_KINDS))}")
        deps = t.get("depends_on", [])
        need(
            isinstance(deps, list)
            and all(
                isinstance(d, dict)
                and isinstance(d.get("task_key"), str)
                and d.get("outcome") in (None, "true", "false")
                for d in deps
            ),
            f'task \'{key}\': depends_on is a list of {{task_key, outcome: null/"true"/"false"}}',
        )
        optional(t, "run_if", lambda v: isinstance(v, str), f"task '{key}': run_if is a string")
        optional(
            t, "job_key", lambda v: v is None or isinstance(v, str), f"task '{key}': job_key is a string"
        )
        job_parameters = t.get("job_parameters") or {}
        need(
            isinstance(job_parameters, dict) and all(isinstance(v, str) for v in job_parameters.values()),
            f"task '{key}': job_parameters map names to strings",
        )
        optional(t, "max_retries", lambda v: is_int(v, -1, 2**31), f"task '{key}': max_retries is -1 or more")
        for field_name, high in (
            ("min_retry_interval_ms", MAX_SECONDS * 1000),
            ("timeout_seconds", MAX_SECONDS),
        ):
            optional(
                t,
                field_name,
                functools.partial(is_int, low=0, high=high),
                f"task '{key}': {field_name} is out of range",
            )
        optional(
            t,
            "retry_on_timeout",
            lambda v: isinstance(v, bool),
            f"task '{key}': retry_on_timeout is true or false",
        )
        cond = t.get("condition")
        need(
            cond is None
            or (
                isinstance(cond, dict) and all(isinstance(cond.get(k), str) for k in ("op", "left", "right"))
            ),
            f"task '{key}': condition is {{op, left, right}} with string values",
        )
    return problems


def _has_cycle(manifest: FlowManifest) -> bool:
    waiting = {t.key: len({d.task_key for d in t.depends_on}) for t in manifest.tasks}
    ready = [k for k, n in waiting.items() if n == 0]
    seen = 0
    while ready:
        key = ready.pop()
        seen += 1
        for child in manifest.children(key):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return seen != len(waiting)


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
