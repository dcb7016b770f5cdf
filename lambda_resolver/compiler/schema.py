"""Every job checked against the Databricks job schema (``databricks.bundles.jobs``), offline.

``Job.from_dict`` rejects unknown fields (nested too), bad enums and wrong types, but names neither
the task nor the line, so each task (and a ``for_each_task``'s nested task) is checked on its own
and its problem located. In a plain job these are warnings, as in the Databricks CLI, which warns
about unknown fields, wrong types and bad enum values and drops them (``libs/dyn/convert``,
``bundle/config/validate/enum.go``); in a flow job they are errors: nothing there is silently
dropped. Fields the CLI reads itself (a job's ``id``, ``url``, ``deployment``, ``edit_mode``,
``format``) are accepted. In a flow job, the compiler owns ``run_if`` and ``condition_task`` (with
clearer messages), so they are left out here; flow tasks that use only fields the compiler checks
fully skip ``from_dict`` (it costs ~100 µs a task, which dominates compiling a 10,000-task flow).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from typing import Any

from lambda_resolver.compiler.bundle import JobResource, PathKey, Problems
from lambda_resolver.compiler.variables import DOLLAR_REF

_OWNED_BY_COMPILER = ("run_if", "condition_task")
# resources.Job fields outside the Jobs API schema: the CLI records them or sets them on deploy.
_SET_BY_CLI = ("id", "url", "deployment", "edit_mode", "format")
_MANAGED_DEPLOYMENT = ("deployment_id", "version_id")  # validate/validate_deployment_fields.go
# validate/for_each_task.go: retry settings belong on the nested task
_FOR_EACH_RETRIES = (("max_retries", "error"), ("min_retry_interval_millis", "warning"),
                     ("retry_on_timeout", "warning"))  # fmt: skip
_PLAIN_TASK: dict[str, type] = {
    "task_key": str,
    "description": str,
    "depends_on": list,
    "run_job_task": dict,
    "max_retries": int,
    "min_retry_interval_millis": int,
    "retry_on_timeout": bool,
    "timeout_seconds": int,
}


def check_job_schema(job: JobResource, problems: Problems, *, flow: bool) -> None:
    """Report what Databricks would not take in ``job``: errors in a flow, warnings elsewhere."""
    from databricks.bundles.jobs import Job

    base: PathKey = ("resources", "jobs", job.key)
    severity = "error" if flow else "warning"
    tasks = job.spec.get("tasks")
    shell = {
        k: v
        for k, v in job.spec.items()
        if k not in _SET_BY_CLI and (k != "tasks" or not isinstance(v, list))
    }
    if flow:  # a plain job's were dropped, with a warning, when the bundle was read
        for field in check_shapes(job.key, job.spec, problems, flow=True):
            shell.pop(field, None)
    _reserved(job, problems, base)
    _git_provider(job, shell, problems, base)
    _check(Job, shell, problems, job=job, path=base, task=None, severity=severity)
    if not isinstance(tasks, list):
        return
    for i, raw in enumerate(tasks):
        path = (*base, "tasks", i)
        if not isinstance(raw, dict):
            problems.add(
                "invalid_job",
                f"task #{i + 1} must be a mapping of settings",
                path=path,
                job=job.key,
                severity=severity,
            )
            continue
        _check_task(job, raw, problems, path, flow=flow, severity=severity)


def _check_task(
    job: JobResource, raw: dict[str, Any], problems: Problems, path: PathKey, *, flow: bool, severity: str
) -> None:
    from databricks.bundles.jobs import Task

    key = raw.get("task_key")
    name = key if isinstance(key, str) else None
    task = {k: v for k, v in raw.items() if k not in _OWNED_BY_COMPILER} if flow else raw
    if flow and _plain_flow_task(task):
        return
    each = task.get("for_each_task")
    nested = each.get("task") if isinstance(each, dict) else None
    if isinstance(each, dict) and isinstance(nested, dict):  # checked on its own: located in it
        task = {**task, "for_each_task": {**each, "task": {"task_key": "_"}}}
        npath = (*path, "for_each_task", "task")
        nkey = nested.get("task_key")
        _check(Task, nested, problems, job=job, path=npath, task=name, severity=severity)
        if nkey is None:
            problems.add(
                "invalid_job",
                f"the for_each_task of task '{name}' runs a nested task without a task_key; give "
                f"for_each_task.task a task_key of its own",
                path=npath,
                job=job.key,
                task=name,
                severity=severity,
            )
        for field, level in _FOR_EACH_RETRIES:
            if field in raw:
                problems.add(
                    "for_each_retries",
                    f"task '{name}' sets {field} next to for_each_task; Databricks retries the "
                    f"iterations: move it to for_each_task.task.{field}",
                    path=(*path, field),
                    job=job.key,
                    task=name,
                    severity=level,
                )
    _check(Task, task, problems, job=job, path=path, task=name, severity=severity)


@functools.cache
def _job_shapes() -> dict[str, type]:
    """Each job setting that is a list or a mapping (from ``databricks.bundles.jobs.Job``)."""
    from databricks.bundles.core import Variable
    from databricks.bundles.jobs import Job

    hints = typing.get_type_hints(Job)
    out: dict[str, type] = {}
    for f in dataclasses.fields(Job):
        for arg in typing.get_args(hints[f.name]):
            origin = typing.get_origin(arg) or arg
            if origin is Variable:
                continue
            if origin is list:
                out[f.name] = list
            elif origin is dict or dataclasses.is_dataclass(origin):
                out[f.name] = dict
    return out


def check_shapes(key: str, spec: dict[str, Any], problems: Problems, *, flow: bool) -> list[str]:
    """The list or mapping settings of job ``key`` written as something else, reported.

    The CLI warns and drops such a setting; in a flow it is an error. Returns their names.
    """
    base: PathKey = ("resources", "jobs", key)
    bad = []
    for field, kind in _job_shapes().items():
        value = spec.get(field)
        if value is None or isinstance(value, kind):
            continue
        if isinstance(value, str) and DOLLAR_REF.fullmatch(value):
            continue  # a reference with no value offline (a lookup variable)
        want = "a list" if kind is list else "a mapping"
        problems.add(
            "invalid_job",
            f"{field} must be {want}, not {type(value).__name__} {str(value)[:40]!r}"
            + ("" if flow else "; the Databricks CLI warns and drops it"),
            path=(*base, field),
            job=key,
            severity="error" if flow else "warning",
        )
        bad.append(field)
    return bad


def _reserved(job: JobResource, problems: Problems, base: PathKey) -> None:
    deployment = job.spec.get("deployment")
    for field in _MANAGED_DEPLOYMENT:
        if isinstance(deployment, dict) and deployment.get(field) not in (None, ""):
            problems.add(
                "reserved_field",
                f"deployment.{field} must not be set in a bundle: the Databricks CLI sets it on every "
                f"deploy; remove it",
                path=(*base, "deployment", field),
                job=job.key,
            )


def _git_provider(job: JobResource, shell: dict[str, Any], problems: Problems, base: PathKey) -> None:
    """Databricks matches ``git_provider`` case-insensitively; the CLI warns about other spellings."""
    from databricks.bundles.jobs import GitProvider

    source = shell.get("git_source")
    value = source.get("git_provider") if isinstance(source, dict) else None
    if not isinstance(value, str) or value in GitProvider._value2member_map_:
        return
    canonical = next((g.value for g in GitProvider if g.value.lower() == value.lower()), None)
    if canonical is None:
        return  # the schema check reports it
    assert isinstance(source, dict)
    shell["git_source"] = {**source, "git_provider": canonical}
    problems.warn(
        "git_provider_case",
        f"git_provider {value!r} is spelled {canonical!r} in the Jobs API; Databricks accepts either "
        f"(it ignores case), the Databricks CLI warns: write {canonical!r}",
        path=(*base, "git_source", "git_provider"),
        job=job.key,
    )


def _check(
    cls: Any,
    data: dict[str, Any],
    problems: Problems,
    *,
    job: JobResource,
    path: PathKey,
    task: str | None,
    severity: str,
) -> None:
    try:
        cls.from_dict(data)
    except (ValueError, TypeError) as exc:
        message, field = explain(str(exc))
        if field is None and "task_key" in message and "task_key" not in data and path[-1] == "task":
            return  # a nested task without a key: reported with its own message
        where = _find_key(data, field, path) if field else path
        what = "task" if task or path[-1] == "task" else "job"
        if severity == "error":
            text = f"Databricks would reject this {what}: {message} (a flow job is checked strictly)"
        else:
            text = f"{message}; the Databricks CLI warns about this {what} and drops what it cannot read"
        problems.add("invalid_job", text, path=where, job=job.key, task=task, severity=severity)


def _plain_flow_task(task: dict[str, Any]) -> bool:
    """True when every field is one the flow compiler validates completely itself."""
    if "task_key" not in task:
        return False
    for k, v in task.items():
        if type(v) is not _PLAIN_TASK.get(k):
            return False
    rjt = task.get("run_job_task")
    if rjt is not None:
        if set(rjt) - {"job_id", "job_parameters"}:
            return False
        job_id = rjt.get("job_id")
        if not (type(job_id) is int or (isinstance(job_id, str) and DOLLAR_REF.fullmatch(job_id))):
            return False
        params = rjt.get("job_parameters")
        if params is not None and not (
            isinstance(params, dict) and all(type(v) is str for v in params.values())
        ):
            return False
    for dep in task.get("depends_on", ()):
        if (
            not isinstance(dep, dict)
            or type(dep.get("task_key")) is not str
            or set(dep) - {"task_key", "outcome"}
        ):
            return False
        if "outcome" in dep and type(dep["outcome"]) is not str:
            return False
    return True


_UNEXPECTED_FIELD = re.compile(r"Unexpected field '([^']+)' for class (\w+)")
_MISSING = re.compile(
    r"(\w+)\.__init__\(\) missing \d+ required (?:keyword-only |positional )?arguments?: (.+)"
)
_BAD_TYPE = re.compile(r"Unexpected type: (.+) for (.+)", re.S)
_BAD_INT = re.compile(r"invalid literal for int\(\) with base 10: (.+)")
_NOT_VALID = re.compile(r"(.+) is not a valid (\w+)")


def explain(raw: str) -> tuple[str, str | None]:
    """A readable message for a databricks-bundles error, and the field it names (if any)."""
    if m := _UNEXPECTED_FIELD.search(raw):
        where = _snake(m.group(2))
        return f"unknown field '{m.group(1)}' in {where} (check the spelling against the Jobs API)", m.group(
            1
        )
    if m := _MISSING.search(raw):
        fields = m.group(2).replace("'", "")
        return f"{_snake(m.group(1))} needs {fields}", None
    if m := _BAD_INT.search(raw):
        return f"{m.group(1)} is not a whole number", None
    if m := _BAD_TYPE.search(raw):
        return f"{m.group(2)} has the wrong type (expected {_type_name(m.group(1))})", None
    if m := _NOT_VALID.search(raw):
        return f"{m.group(1)} is not a valid {_snake(m.group(2))}", None
    return f"a setting has the wrong type or shape ({raw})", None


def _snake(name: str) -> str:
    if name == "Job":
        return "the job"
    if name == "Task":
        return "the task"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _type_name(text: str) -> str:
    text = re.sub(r"<class '([\w.]+)'>", r"\1", text)
    text = re.sub(r"(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", text)
    prev = None
    while prev != text:  # Union[Variable[X], X] -> X
        prev = text
        text = re.sub(r"Union\[Variable\[([^\[\]]+)\], \1\]", r"\1", text)
    return text


def _find_key(data: Any, key: str, path: PathKey) -> PathKey:
    """The path of the first ``key`` inside ``data`` (breadth first), to point at its line."""
    queue: list[tuple[Any, PathKey]] = [(data, path)]
    while queue:
        node, p = queue.pop(0)
        if isinstance(node, dict):
            if key in node:
                return (*p, key)
            queue.extend((v, (*p, k)) for k, v in node.items())
        elif isinstance(node, list):
            queue.extend((v, (*p, i)) for i, v in enumerate(node))
    return path
