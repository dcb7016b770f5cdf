"""A flow's ``for_each_task`` → a FOR_EACH :class:`TaskSpec` whose nested task is a job task.

Databricks' syntax and limits: ``inputs`` is a JSON array — written as a YAML list or as JSON
text — or a reference to an upstream task's value (``{{tasks.<key>.values.<name>}}``,
``{{tasks.<key>.value}}``); ``concurrency`` is 1..100 (default 1); the nested ``task`` has its own
``task_key``, and in a flow it is a ``run_job_task`` whose ``job_parameters`` may use ``{{input}}``
and ``{{input.<field>}}``. Its retry and timeout settings apply to each iteration.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lambda_resolver.compiler.bundle import PathKey
from lambda_resolver.core.iterations import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MAX_INPUTS, MAX_INPUTS_BYTES
from lambda_resolver.core.manifest import ForEach, TaskKind, TaskSpec
from lambda_resolver.core.references import REFERENCE_PATTERN

if TYPE_CHECKING:
    from lambda_resolver.compiler.flow_tasks import TaskReader

_NESTED_SETTINGS = ("max_retries", "min_retry_interval_millis", "retry_on_timeout", "timeout_seconds")


def read_for_each(
    reader: TaskReader, key: str, path: PathKey, raw: object, common: dict[str, Any]
) -> TaskSpec | None:
    """The for_each task's spec, or None when it cannot run in a flow (problems are reported)."""
    ctx = reader.ctx
    fpath = (*path, "for_each_task")
    if not isinstance(raw, dict):
        ctx.problem("bad_for_each", "for_each_task needs inputs and a nested task", fpath, key)
        return None
    inputs = _inputs(reader, key, (*fpath, "inputs"), raw.get("inputs"))
    concurrency = reader._int(key, fpath, raw, "concurrency", DEFAULT_CONCURRENCY, minimum=1)
    if concurrency > MAX_CONCURRENCY:
        ctx.problem(
            "bad_setting",
            f"concurrency is {concurrency}; Databricks runs at most {MAX_CONCURRENCY} iterations at once",
            (*fpath, "concurrency"),
            key,
        )
    nested = raw.get("task")
    npath = (*fpath, "task")
    if not isinstance(nested, dict):
        ctx.problem("bad_for_each", "for_each_task.task must be the nested task to run per input", npath, key)
        return None
    kinds = sorted(k for k in nested if k.endswith("_task"))
    if kinds != ["run_job_task"]:
        what = ", ".join(kinds) if kinds else "no task type"
        ctx.problem(
            "unsupported_task_type",
            f"task '{key}': the for_each_task's nested task has {what}; in a flow it must be a "
            f"run_job_task (a bundle job that declares the `lakehook` parameter), e.g. "
            f'job_parameters: {{item: "{{{{input}}}}"}}',
            npath,
            key,
        )
        return None
    settings: dict[str, Any] = {
        "max_retries": reader._int(key, npath, nested, "max_retries", 0, minimum=-1),
        "min_retry_interval_ms": reader._int(key, npath, nested, "min_retry_interval_millis", 0, minimum=0),
        "retry_on_timeout": nested.get("retry_on_timeout") is True
        or str(nested.get("retry_on_timeout")).lower() == "true",
        "timeout_seconds": reader._int(key, npath, nested, "timeout_seconds", 0, minimum=0),
    }
    inner = reader._run_job(key, npath, nested["run_job_task"], settings)
    if inner is None or inputs is None:
        return None
    if inner.kind is TaskKind.EXTERNAL:
        ctx.problem(
            "unsupported_task_type",
            f"task '{key}': a for_each_task cannot iterate over '{inner.job_key}', a job tagged "
            f"`lakehook: external` (nothing would start); point it at a job that runs",
            (*npath, "run_job_task", "job_id"),
            key,
        )
        return None
    nested_key = str(nested.get("task_key") or f"{key}_iteration")
    inner = TaskSpec(
        nested_key, TaskKind.JOB, job_key=inner.job_key, job_parameters=inner.job_parameters, **settings
    )
    return TaskSpec(key, TaskKind.FOR_EACH, for_each=ForEach(inputs, concurrency, inner), **common)


def _inputs(reader: TaskReader, key: str, path: PathKey, raw: object) -> str | None:
    """``inputs`` as the text the engine reads: JSON of a literal array, or one reference."""
    ctx = reader.ctx
    if raw is None:
        ctx.problem(
            "bad_for_each",
            'for_each_task needs inputs: a JSON array (["a", "b"]) or a reference to an upstream '
            "value ({{tasks.<key>.values.<name>}})",
            path,
            key,
        )
        return None
    if isinstance(raw, list):
        text = json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
        return text if _count_ok(reader, key, path, raw) else None
    if not isinstance(raw, str):
        ctx.problem("bad_for_each", f"inputs must be a JSON array or a reference, not {raw!r}", path, key)
        return None
    if ctx.leftover(raw, path, key, "inputs"):
        return None
    stripped = raw.strip()
    if "{{" in stripped:
        if not REFERENCE_PATTERN.fullmatch(stripped):
            ctx.problem(
                "bad_for_each",
                f"inputs is {raw!r}; write either a JSON array or exactly one reference such as "
                "{{tasks.<key>.values.<name>}} (an upstream value that is a JSON array)",
                path,
                key,
            )
            return None
        ctx.templates.append((key, path, stripped))
        return stripped
    try:
        parsed = json.loads(stripped)
    except ValueError as exc:
        ctx.problem("bad_for_each", f"inputs is not a JSON array: {exc}", path, key)
        return None
    if not isinstance(parsed, list):
        ctx.problem("bad_for_each", f"inputs must be a JSON array, not {type(parsed).__name__}", path, key)
        return None
    return stripped if _count_ok(reader, key, path, parsed) else None


def _count_ok(reader: TaskReader, key: str, path: PathKey, inputs: list[Any]) -> bool:
    size = len(json.dumps(inputs, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_INPUTS_BYTES:
        reader.ctx.problem(
            "bad_for_each",
            f"inputs take {size} bytes of JSON; at most {MAX_INPUTS_BYTES}: pass table names or paths",
            path,
            key,
        )
        return False
    if len(inputs) <= MAX_INPUTS:
        return True
    reader.ctx.problem(
        "bad_for_each",
        f"inputs has {len(inputs)} elements; a for_each task takes at most {MAX_INPUTS}: split the list "
        "over several for_each tasks",
        path,
        key,
    )
    return False


def input_allowed(path: PathKey) -> bool:
    """Whether a template at ``path`` may use ``{{input}}``: inside a for_each's nested task."""
    parts = list(path)
    return any(parts[i] == "for_each_task" and parts[i + 1] == "task" for i in range(len(parts) - 1))
