"""Dynamic value references in a locally run job's task parameters, as Databricks substitutes them.

``{{job.parameters.<name>}}``, ``{{job.id}}``, ``{{job.name}}``, ``{{job.run_id}}``,
``{{job.repair_count}}``, ``{{job.trigger.type}}``, ``{{job.start_time.<iso_date|iso_datetime|
timestamp_ms|year|month|day|hour|minute|second|iso_weekday|is_weekday>}}``, ``{{task.name}}``,
``{{task.run_id}}``, ``{{task.execution_count}}``, ``{{tasks.<key>.values.<name>}}``,
``{{tasks.<key>.result_state}}``, ``{{tasks.<key>.run_id}}``, ``{{workspace.id}}``,
``{{workspace.url}}``, and the legacy ``{{job_id}}``, ``{{run_id}}``, ``{{parent_run_id}}``,
``{{task_key}}``, ``{{start_date}}``, ``{{start_time}}``, ``{{task_retry_count}}``.

As on Databricks, anything that is not a reference (a missing brace, an unknown namespace) stays
as written, while an invalid reference in a known namespace (``{{job.naem}}``) is an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

REFERENCE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_ID = r"([A-Za-z0-9_]+|`[^`]+`|\[[^\[\]]+\])"
_TASK_FORM = re.compile(rf"tasks\.{_ID}\.(values\.{_ID}|result_state|run_id)")
_PARAM_FORM = re.compile(rf"job\.parameters\.{_ID}")
_KNOWN_NAMESPACES = ("job.", "task.", "tasks.", "workspace.")


class BadReferenceError(ValueError):
    """A reference in a known namespace that cannot be resolved; the message names it."""


@dataclass
class RunContext:
    """What references resolve against: the run, the task being started, the tasks before it."""

    job_id: int
    job_name: str
    run_id: int
    start_ms: int
    job_parameters: dict[str, str]
    task_key: str = ""
    task_run_id: int = 0
    task_runs: dict[str, int] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)
    task_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    workspace_url: str = ""
    workspace_id: str = ""


def substitute(text: str, ctx: RunContext) -> str:
    """``text`` with every reference replaced, in one pass (results are not expanded again)."""
    if "{{" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        value = _resolve(match.group(1), ctx)
        return match.group(0) if value is None else value

    return REFERENCE.sub(one, text)


def _unquote(ident: str) -> str:
    """A name as written: bare, in backticks (`` `my-param` ``) or in brackets (``[my-param]``)."""
    return ident[1:-1] if ident[:1] in ("`", "[") else ident


def _resolve(inner: str, ctx: RunContext) -> str | None:
    start = datetime.fromtimestamp(ctx.start_ms / 1000, tz=timezone.utc)
    simple = {
        "job.id": str(ctx.job_id),
        "job.name": ctx.job_name,
        "job.run_id": str(ctx.run_id),
        "job.repair_count": "0",
        "job.trigger.type": "ONE_TIME",
        "task.name": ctx.task_key,
        "task.run_id": str(ctx.task_run_id),
        "task.execution_count": "1",
        "workspace.id": ctx.workspace_id,
        "workspace.url": ctx.workspace_url,
        "job.start_time.iso_date": start.strftime("%Y-%m-%d"),
        "job.start_time.iso_datetime": start.strftime("%Y-%m-%dT%H:%M:%S"),
        "job.start_time.timestamp_ms": str(ctx.start_ms),
        "job.start_time.year": str(start.year),
        "job.start_time.month": str(start.month),
        "job.start_time.day": str(start.day),
        "job.start_time.hour": str(start.hour),
        "job.start_time.minute": str(start.minute),
        "job.start_time.second": str(start.second),
        "job.start_time.iso_weekday": str(start.isoweekday()),
        "job.start_time.is_weekday": "true" if start.isoweekday() <= 5 else "false",
        # the legacy task parameter variables
        "job_id": str(ctx.job_id),
        "run_id": str(ctx.task_run_id),
        "parent_run_id": str(ctx.run_id),
        "task_key": ctx.task_key,
        "start_date": start.strftime("%Y-%m-%d"),
        "start_time": str(ctx.start_ms),
        "task_retry_count": "0",
    }
    if inner in simple:
        return simple[inner]
    param = _PARAM_FORM.fullmatch(inner)
    if param is not None:
        name = _unquote(param.group(1))
        if name not in ctx.job_parameters:
            raise BadReferenceError(f"{{{{{inner}}}}}: the job has no parameter '{name}'")
        return ctx.job_parameters[name]
    task = _TASK_FORM.fullmatch(inner)
    if task is not None:
        return _task_reference(inner, _unquote(task.group(1)), task.group(2), task.group(3), ctx)
    if inner.startswith(_KNOWN_NAMESPACES):
        raise BadReferenceError(f"{{{{{inner}}}}} is not a dynamic value reference lakehook knows")
    return None


def _task_reference(inner: str, key: str, what: str, name: str | None, ctx: RunContext) -> str:
    if key not in ctx.task_runs:
        raise BadReferenceError(f"{{{{{inner}}}}}: the job has no task '{key}'")
    if key not in ctx.results:
        raise BadReferenceError(
            f"{{{{{inner}}}}}: task '{key}' has not finished (is it upstream of this task?)"
        )
    if what == "result_state":
        return ctx.results[key].lower()
    if what == "run_id":
        return str(ctx.task_runs[key])
    assert name is not None
    values = ctx.task_values.get(key, {})
    if _unquote(name) not in values:
        raise BadReferenceError(f"{{{{{inner}}}}}: task '{key}' set no task value '{_unquote(name)}'")
    value = values[_unquote(name)]
    return value if isinstance(value, str) else json.dumps(value)
