"""The checks a stored flow manifest must pass before any run starts from it.

A manifest reaches the resolver compiled (``lakehook publish``) but as JSON over the wire, so
each field is checked for its type and range, and the flow for what a run relies on: task keys
as Databricks takes them, unique keys, known dependencies, no cycle (the compiler's own check,
:class:`~lambda_resolver.core.graph.TaskGraph`), and a deployed job id for every task whose kind
needs one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from lambda_resolver.core.errors import BadRequest
from lambda_resolver.core.graph import TaskGraph
from lambda_resolver.core.ids import check_id
from lambda_resolver.core.kinds import kind_of
from lambda_resolver.core.manifest import FlowManifest, TaskKind


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
        for spec in (t,) if t.for_each is None else (t, t.for_each.task):
            kind = kind_of(spec)
            if kind.needs_job:
                ref = next((j for j in manifest.jobs if j.key == spec.job_key), None)
                if ref is None:
                    problems.append(f"task '{t.key}' points at job '{spec.job_key}', which is not in jobs")
                elif kind.needs_job_id and ref.job_id is None:
                    problems.append(f"job '{ref.key}' has no job_id: publish maps job keys to deployed ids")
        if t.kind is TaskKind.FOR_EACH and t.for_each is None:
            problems.append(f"task '{t.key}': a for_each task needs its for_each")
    if not problems:
        graph = TaskGraph(keys, {t.key: [d.task_key for d in t.depends_on] for t in manifest.tasks})
        problems += ["its dependencies form a cycle: " + " → ".join(c) for c in graph.cycles()[:3]]
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
