"""A job tagged ``lakehook: flow`` → :class:`FlowManifest`, with every problem located.

Flow tasks are ``run_job_task`` (a bundle job; ``EXTERNAL`` when that job is tagged
``lakehook: external``) or ``condition_task``; anything else cannot run in a flow. Settings keep
their Databricks meaning and defaults (``run_if`` ALL_SUCCESS, ``max_concurrent_runs`` 1).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from lambda_resolver.compiler.bundle import Bundle, JobResource, PathKey, Problems, scalar_text
from lambda_resolver.compiler.flow_for_each import input_allowed
from lambda_resolver.compiler.flow_schedule import read_schedule
from lambda_resolver.compiler.flow_tasks import TaskReader
from lambda_resolver.compiler.variables import DOLLAR_REF
from lambda_resolver.core.graph import TaskGraph
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.manifest_checks import TASK_KEY
from lambda_resolver.core.references import scan_references


@dataclass
class FlowContext:
    """What one flow's compilation shares with the bundle-wide checks."""

    bundle: Bundle
    job: JobResource
    problems: Problems
    child_uses: dict[str, list[str]]  # child job key -> "flow.task" that run it without `lakehook`
    failed: bool = False
    templates: list[tuple[str, PathKey, str]] = field(default_factory=list)  # (task, path, template)

    @property
    def base(self) -> PathKey:
        return ("resources", "jobs", self.job.key)

    def problem(self, code: str, message: str, path: PathKey, task: str | None = None) -> None:
        self.failed = True
        self.problems.add(code, message, path=path, job=self.job.key, task=task)

    def leftover(self, value: object, path: PathKey, task: str | None, what: str) -> bool:
        """Whether ``value`` still holds a ``${...}`` with no offline value (reported once)."""
        if not isinstance(value, str) or "${" not in value:
            return False
        refs = list(DOLLAR_REF.finditer(value))
        if not refs:
            return False
        fresh = [m for m in refs if not self._reported(m.group(1))]
        if not fresh:
            self.failed = True  # an unknown variable or resource: reported while resolving
            return True
        names = [m.group(1).split(".")[1] for m in fresh if m.group(1).startswith("var.")]
        fix = f"pass --var {names[0]}=<value>, " if names else ""
        shown = ", ".join(m.group(0) for m in fresh)
        self.problem(
            "unresolved_value",
            f"{what} is {value!r}, but {shown} has no value offline (a lookup variable, or a "
            f"${{workspace...}} / ${{resources...}} reference); {fix}use a literal or a variable with a "
            f"default",
            path,
            task,
        )
        return True

    def _reported(self, expr: str) -> bool:
        tokens = expr.split(".")
        if tokens[0] in ("var", "variables") and len(tokens) > 1:
            return tokens[1].split("[")[0] not in self.bundle.unresolved_variables
        if tokens[0] == "resources" and len(tokens) >= 3:
            group = (self.bundle.config.get("resources") or {}).get(tokens[1])
            return not (isinstance(group, dict) and tokens[2] in group)
        return False


def compile_flow(ctx: FlowContext) -> FlowManifest | None:
    """Compile one flow job; None when it has problems (they are on ``ctx.problems``)."""
    job, base = ctx.job, ctx.base
    raw_tasks = job.spec.get("tasks")
    if not raw_tasks:
        ctx.problem(
            "empty_flow",
            f"flow '{job.key}' has no tasks; add run_job_tasks that point at bundle jobs, or remove "
            f"the `lakehook: flow` tag",
            base,
        )
        return None
    if not isinstance(raw_tasks, list):
        ctx.failed = True  # the schema check reports the shape
        return None
    entries: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, task in enumerate(raw_tasks):
        if not isinstance(task, dict) or not isinstance(task.get("task_key"), (str, int)):
            ctx.failed = True  # the schema check reports it
            continue
        key = scalar_text(task["task_key"])
        if not TASK_KEY.fullmatch(key):
            ctx.problem(
                "bad_task_key",
                f"task_key {key[:120]!r} is not one Databricks takes: use 1 to 100 letters, digits, "
                f"'_' or '-' (it becomes part of the task's promise id)",
                (*base, "tasks", i, "task_key"),
                key[:120],
            )
        if key in entries:
            first = ctx.problems.sources.where((*base, "tasks", entries[key][0]))
            ctx.problem(
                "duplicate_task_key",
                f"task_key '{key}' is used twice in flow '{job.key}' (first at line "
                f"{first.line if first else '?'}); task keys must be unique within a job",
                (*base, "tasks", i, "task_key"),
                key,
            )
            continue
        entries[key] = (i, task)
    reader = TaskReader(ctx, entries)
    specs = [spec for key, (i, task) in entries.items() if (spec := reader.read(key, i, task)) is not None]
    graph = TaskGraph(list(entries), reader.graph_deps)
    for cycle in graph.cycles():
        i = entries[cycle[0]][0]
        ctx.problem(
            "cycle",
            f"tasks depend on each other in a cycle: {' → '.join(cycle)} (→ means 'depends on'); "
            f"remove one of these depends_on entries",
            (*base, "tasks", i, "depends_on"),
            cycle[0],
        )
    params = _flow_parameters(ctx)
    _check_references(ctx, graph, entries, set(params))
    schedule = read_schedule(ctx)
    if ctx.failed:
        return None
    return FlowManifest(
        name=job.key,
        tasks=tuple(specs),
        jobs=tuple(reader.job_refs.values()),
        parameters=tuple(params.items()),
        max_concurrent_runs=_int_setting(ctx, "max_concurrent_runs", 1, minimum=0),
        queue=_queue_enabled(job.spec.get("queue")),
        timeout_seconds=_int_setting(ctx, "timeout_seconds", 0, minimum=0),
        display_name=job.name,
        source=job.source.file,
        schedule=schedule,
    )


def _flow_parameters(ctx: FlowContext) -> dict[str, str]:
    out: dict[str, str] = {}
    params = ctx.job.spec.get("parameters")
    for i, p in enumerate(params if isinstance(params, list) else []):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            continue  # the schema check reports it
        default = p.get("default")
        text = "" if default is None or isinstance(default, (dict, list)) else scalar_text(default)
        ctx.leftover(text, (*ctx.base, "parameters", i), None, f"the default of flow parameter '{p['name']}'")
        out[p["name"]] = text
    return out


def _check_references(
    ctx: FlowContext, graph: TaskGraph, entries: dict[str, tuple[int, dict[str, Any]]], params: set[str]
) -> None:
    flow = ctx.job.key
    for task, path, template in ctx.templates:
        found, errors = scan_references(template)
        for err in errors:
            ctx.problem("unknown_reference", str(err), path, task)
        for ref in found:
            if ref.kind == "iteration_input" and not input_allowed(path):
                ctx.problem(
                    "unknown_reference",
                    f"{ref.raw}: only a for_each_task's nested task has an input; use it in "
                    f"for_each_task.task.run_job_task.job_parameters",
                    path,
                    task,
                )
            elif ref.kind == "job_param" and ref.name not in params:
                declared = ", ".join(sorted(params)) or "none"
                ctx.problem(
                    "unknown_reference",
                    f"{ref.raw}: flow '{flow}' declares no parameter '{ref.name}' (declared: {declared}); "
                    f'add {{name: {ref.name}, default: ""}} to the flow job\'s parameters',
                    path,
                    task,
                )
            elif ref.task_key is not None:
                other = ref.task_key
                if other not in entries:
                    close = difflib.get_close_matches(other, list(entries), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    ctx.problem(
                        "unknown_reference",
                        f"{ref.raw}: flow '{flow}' has no task '{other}'{hint}",
                        path,
                        task,
                    )
                elif other == task:
                    ctx.problem(
                        "unknown_reference", f"{ref.raw}: a task cannot read its own value", path, task
                    )
                elif task not in graph.blocked and not graph.is_upstream(other, task):
                    ctx.problem(
                        "unknown_reference",
                        f"{ref.raw}: task '{other}' is not upstream of '{task}', so its value may not "
                        f"exist yet; add '{other}' to depends_on (directly or through another task)",
                        path,
                        task,
                    )


def _int_setting(ctx: FlowContext, name: str, default: int, *, minimum: int) -> int:
    value = ctx.job.spec.get(name)
    if value is None:
        return default
    if ctx.leftover(value, (*ctx.base, name), None, name):
        return default
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        ctx.problem("bad_setting", f"{name} must be a whole number, not {value!r}", (*ctx.base, name))
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        ctx.failed = True  # the schema check reports it
        return default
    if number < minimum:
        ctx.problem("bad_setting", f"{name} must be at least {minimum}, not {number}", (*ctx.base, name))
    return number


def _queue_enabled(queue: object) -> bool:
    """A flow job's ``queue.enabled``; a job that says nothing queues, as bundles deploy it (the
    Databricks CLI's DefaultQueueing mutator enables queueing for jobs without ``queue``)."""
    if queue is None:
        return True
    if isinstance(queue, dict):
        enabled = queue.get("enabled")
        return enabled is True or (isinstance(enabled, str) and enabled.lower() == "true")
    return False
