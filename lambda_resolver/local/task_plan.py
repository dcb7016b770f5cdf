"""From a job's task settings to what a child process runs: kind, local path, widgets, argv.

Parameters reach tasks as on Databricks ("Configure task parameters", "Job parameter pushdown"):

- ``notebook_task``: ``base_parameters`` and then the job parameters become widgets — a job
  parameter wins over a base parameter of the same name.
- ``spark_python_task``: ``parameters`` is argv; job parameters are *not* pushed down, a task
  refers to them with ``{{job.parameters.<name>}}`` (``"--lakehook={{job.parameters.lakehook}}"``).
- ``python_wheel_task``: ``named_parameters`` and then the job parameters become
  ``--name=value`` argv; with positional ``parameters`` those are argv and nothing is pushed.

Dynamic value references are substituted here (:mod:`~lambda_resolver.local.job_references`).
Paths: absolute local paths are used as they are; ``${workspace.file_path}/x`` and deployed
bundle paths (``.../.bundle/<name>/<target>/files/x``) map to the bundle root; other relative
paths are relative to the bundle root — register bundle jobs through :func:`localize_job_settings`
so paths relative to their YAML file resolve as Databricks resolves them.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_resolver.local.job_references import RunContext, substitute

if TYPE_CHECKING:
    from lambda_resolver.compiler.bundle import Bundle, JobResource

RUNNABLE = ("notebook_task", "spark_python_task", "python_wheel_task")
_NOT_LOCAL = {
    "run_job_task": "a run_job_task inside a child job is not run locally; make it a lakehook flow "
    "(a job tagged lakehook: flow), whose run_job_tasks the resolver triggers",
    "condition_task": "condition_task inside a child job is not run locally; put the condition in a "
    "lakehook flow",
}


class TaskSetupError(Exception):
    """The task cannot start locally; the message says why and what to do."""


@dataclass
class PlannedTask:
    """One task of a job run, with its dependency edges, ``run_if`` and timeout."""

    key: str
    settings: dict[str, Any]
    depends_on: list[str]
    run_if: str
    timeout_s: float | None


def plan_tasks(tasks: list[tuple[str, dict[str, Any]]]) -> list[PlannedTask]:
    """The run's tasks, ``(task_key, settings)``, in their order in the job."""
    planned = []
    for key, settings in tasks:
        deps = [str(d.get("task_key")) for d in settings.get("depends_on") or [] if isinstance(d, dict)]
        timeout = settings.get("timeout_seconds")
        timeout_s = float(timeout) if isinstance(timeout, (int, float, str)) and float(timeout) > 0 else None
        run_if = str(settings.get("run_if") or "ALL_SUCCESS").upper()
        planned.append(PlannedTask(key, settings, deps, run_if, timeout_s))
    return planned


def task_kind(settings: dict[str, Any]) -> str:
    """The task's type key (``notebook_task``...); TaskSetupError if it cannot run locally."""
    types = [k for k in settings if k.endswith("_task")]
    for kind in RUNNABLE:
        if kind in types:
            return kind
    if not types:
        raise TaskSetupError(
            "the task has no task type (notebook_task, spark_python_task, python_wheel_task)"
        )
    kind = types[0]
    raise TaskSetupError(
        _NOT_LOCAL.get(kind, f"{kind} is not run locally (lakehook runs {', '.join(RUNNABLE)})")
    )


def child_spec(settings: dict[str, Any], ctx: RunContext, bundle_root: Path) -> dict[str, Any]:
    """The part of the child's spec that depends on the task: kind, path, widgets, argv, cwd."""
    kind = task_kind(settings)
    body = settings[kind]
    params = {k: substitute(str(v), ctx) for k, v in ctx.job_parameters.items()}
    ctx.job_parameters = params
    if kind == "notebook_task":
        path = resolve_local_path(bundle_root, str(body.get("notebook_path", "")), (".py", ".ipynb"))
        base = {str(k): substitute(str(v), ctx) for k, v in (body.get("base_parameters") or {}).items()}
        return {"kind": "notebook", "path": str(path), "widgets": {**base, **params}, "cwd": str(path.parent)}
    if kind == "spark_python_task":
        path = resolve_local_path(bundle_root, str(body.get("python_file", "")), ())
        argv = [substitute(str(p), ctx) for p in body.get("parameters") or []]
        return {"kind": "python_file", "path": str(path), "argv": argv, "cwd": str(path.parent)}
    package, entry = body.get("package_name"), body.get("entry_point")
    if not package or not entry:
        raise TaskSetupError("python_wheel_task needs package_name and entry_point")
    if body.get("parameters"):
        argv = [substitute(str(p), ctx) for p in body["parameters"]]
    else:
        named = {str(k): substitute(str(v), ctx) for k, v in (body.get("named_parameters") or {}).items()}
        argv = [f"--{k}={v}" for k, v in {**named, **params}.items()]
    return {
        "kind": "python_wheel",
        "package_name": str(package),
        "entry_point": str(entry),
        "argv": argv,
        "cwd": str(bundle_root),
    }


def resolve_local_path(bundle_root: Path, raw: str, suffixes: tuple[str, ...]) -> Path:
    """The local file for a path written in a job (``suffixes`` are tried when it has none)."""
    if not raw:
        raise TaskSetupError("the task names no file (notebook_path / python_file is empty)")
    prefix = "${workspace.file_path}"
    text = raw[len("file:") :] if raw.startswith("file:") else raw
    marker = "/files/"
    if text.startswith(prefix):
        base = bundle_root / text[len(prefix) :].lstrip("/")
    elif "/.bundle/" in text and marker in text.split("/.bundle/", 1)[1]:
        base = bundle_root / text.split("/.bundle/", 1)[1].split(marker, 1)[1]
    elif os.path.isabs(text):
        base = Path(text)
    else:
        base = bundle_root / text
    tried = [base, *(base.with_name(base.name + s) for s in suffixes if not base.name.endswith(s))]
    for candidate in tried:
        if candidate.is_file():
            return candidate.resolve()
    raise TaskSetupError(f"{raw!r} was not found locally (looked for {', '.join(str(t) for t in tried)})")


def localize_job_settings(bundle: Bundle, job: JobResource) -> dict[str, Any]:
    """``job.spec`` with its notebook and Python file paths made absolute local paths, resolved
    against the YAML file that wrote them — what ``lakehook dev`` registers with the workspace."""
    spec = copy.deepcopy(job.spec)
    for task in spec.get("tasks") or []:
        if not isinstance(task, dict):
            continue
        key = task.get("task_key")
        for kind, field_name in (("notebook_task", "notebook_path"), ("spark_python_task", "python_file")):
            body = task.get(kind)
            raw = body.get(field_name) if isinstance(body, dict) else None
            if isinstance(body, dict) and isinstance(raw, str) and raw and not raw.startswith("/Workspace"):
                body[field_name] = str(
                    job.resolve_path(bundle.root, raw, key if isinstance(key, str) else None)
                )
    return spec
