"""One flow task → :class:`TaskSpec`: its kind, dependencies, run_if, retries and templates."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from lambda_resolver.compiler.bundle import LAKEHOOK_PARAMETER, JobResource, PathKey, job_ref_key, scalar_text
from lambda_resolver.compiler.flow_for_each import read_for_each
from lambda_resolver.core.manifest import (
    Condition,
    ConditionOp,
    Dependency,
    JobRef,
    RunIf,
    TaskKind,
    TaskSpec,
)

if TYPE_CHECKING:
    from lambda_resolver.compiler.flows import FlowContext

# Run-now settings a flow does not pass on (the Databricks schema rejects the older task-parameter
# forms, notebook_params and friends, by itself).
_UNSUPPORTED_RUN_SETTINGS = ("pipeline_params",)
_RUN_IFS = ", ".join(r.value for r in RunIf)
_OPS = ", ".join(o.value for o in ConditionOp)


def _types(task: dict[str, Any]) -> list[str]:
    return sorted(k for k in task if k.endswith("_task"))


class TaskReader:
    """Reads the tasks of one flow; collects the dependency graph and the jobs the flow runs."""

    def __init__(self, ctx: FlowContext, entries: dict[str, tuple[int, dict[str, Any]]]) -> None:
        self.ctx = ctx
        self.entries = entries
        self.graph_deps: dict[str, list[str]] = {}
        self.job_refs: dict[str, JobRef] = {}
        self.types = {k: _types(t) for k, (_, t) in entries.items()}
        self.is_condition = {k: t == ["condition_task"] for k, t in self.types.items()}
        self._children: dict[str, tuple[JobResource, bool] | None] = {}

    def read(self, key: str, index: int, task: dict[str, Any]) -> TaskSpec | None:
        """The task's spec, or None when it cannot run in a flow (problems are reported)."""
        path: PathKey = (*self.ctx.base, "tasks", index)
        deps = self._depends_on(key, path, task.get("depends_on"))
        run_if = self._run_if(key, path, task.get("run_if"))
        if task.get("disabled") is True:
            self.ctx.problem(
                "unsupported_setting",
                "disabled tasks are not supported in a flow; remove the task (and what depends on it)",
                (*path, "disabled"),
                key,
            )
        common: dict[str, Any] = {
            "depends_on": tuple(deps),
            "run_if": run_if,
            "max_retries": self._int(key, path, task, "max_retries", 0, minimum=-1),
            "min_retry_interval_ms": self._int(key, path, task, "min_retry_interval_millis", 0, minimum=0),
            "retry_on_timeout": _bool(task.get("retry_on_timeout")),
            "timeout_seconds": self._int(key, path, task, "timeout_seconds", 0, minimum=0),
        }
        types = self.types[key]
        if types == ["run_job_task"]:
            return self._run_job(key, path, task["run_job_task"], common)
        if types == ["for_each_task"]:
            return read_for_each(self, key, path, task["for_each_task"], common)
        if types == ["condition_task"]:
            cond = self._condition(key, (*path, "condition_task"), task["condition_task"])
            return None if cond is None else TaskSpec(key, TaskKind.CONDITION, condition=cond, **common)
        if not types:
            why = "it has neither run_job_task nor condition_task"
        else:
            why = f"{', '.join(types)} cannot run directly in a flow"
        self.ctx.problem(
            "unsupported_task_type",
            f"task '{key}': {why}; a flow's tasks are run_job_task (pointing at a bundle job that "
            f"declares the `lakehook` parameter), condition_task or for_each_task (over a "
            f"run_job_task) — move the work into its own job",
            path,
            key,
        )
        return None

    def _depends_on(self, key: str, path: PathKey, raw: object) -> list[Dependency]:
        graph = self.graph_deps.setdefault(key, [])
        deps: list[Dependency] = []
        seen: set[Dependency] = set()  # a fan-in of hundreds: no list scan per entry
        for j, d in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(d, dict) or not isinstance(d.get("task_key"), (str, int)):
                self.ctx.failed = True  # the schema check reports it
                continue
            dpath = (*path, "depends_on", j)
            dep_key = scalar_text(d["task_key"])
            outcome = None if d.get("outcome") is None else scalar_text(d["outcome"])
            if dep_key not in self.entries:
                close = difflib.get_close_matches(dep_key, list(self.entries), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.ctx.problem(
                    "unknown_dependency",
                    f"task '{key}' depends on '{dep_key}', which is not a task of flow "
                    f"'{self.ctx.job.key}'{hint}",
                    dpath,
                    key,
                )
                continue
            graph.append(dep_key)
            if outcome is not None and not self.is_condition[dep_key]:
                self.ctx.problem(
                    "outcome_on_non_condition",
                    f"depends_on '{dep_key}' has outcome '{outcome}', but '{dep_key}' is not a "
                    f"condition_task; remove the outcome (only condition tasks have one)",
                    (*dpath, "outcome"),
                    key,
                )
            elif outcome is not None and outcome not in ("true", "false"):
                self.ctx.problem(
                    "bad_outcome",
                    f'outcome must be "true" or "false" (quoted), not {outcome!r}',
                    (*dpath, "outcome"),
                    key,
                )
            dep = Dependency(dep_key, outcome)
            if dep not in seen:
                seen.add(dep)
                deps.append(dep)
        return deps

    def _run_if(self, key: str, path: PathKey, raw: object) -> RunIf:
        if raw is None:
            return RunIf.ALL_SUCCESS
        try:
            return RunIf(raw)
        except ValueError:
            self.ctx.problem(
                "bad_run_if", f"run_if {raw!r} is not valid; use one of {_RUN_IFS}", (*path, "run_if"), key
            )
            return RunIf.ALL_SUCCESS

    def _int(
        self, key: str, path: PathKey, task: dict[str, Any], name: str, default: int, *, minimum: int
    ) -> int:
        value = task.get(name)
        if value is None:
            return default
        if self.ctx.leftover(value, (*path, name), key, name):
            return default
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            self.ctx.problem(
                "bad_setting", f"{name} must be a whole number, not {value!r}", (*path, name), key
            )
            return default
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.ctx.failed = True  # the schema check reports it
            return default
        if number < minimum:
            self.ctx.problem(
                "bad_setting", f"{name} must be at least {minimum}, not {number}", (*path, name), key
            )
        return number

    def _run_job(self, key: str, path: PathKey, rjt: object, common: dict[str, Any]) -> TaskSpec | None:
        if rjt is None:
            self.ctx.problem(
                "invalid_job", "run_job_task is empty; it needs job_id", (*path, "run_job_task"), key
            )
            return None
        if not isinstance(rjt, dict):
            self.ctx.failed = True  # the schema check reports it
            return None
        rpath = (*path, "run_job_task")
        for setting in _UNSUPPORTED_RUN_SETTINGS:
            if setting in rjt:
                self.ctx.problem(
                    "unsupported_setting",
                    f"run_job_task.{setting} is not supported in a flow: pass job_parameters (the child "
                    f"job declares them, including `lakehook`)",
                    (*rpath, setting),
                    key,
                )
        job_id = rjt.get("job_id")
        child_key = job_ref_key(job_id)
        params = self._job_parameters(key, (*rpath, "job_parameters"), rjt.get("job_parameters"))
        if child_key is None:
            if job_id is None:
                self.ctx.failed = True  # the schema check reports the missing job_id
                return None
            self.ctx.problem(
                "job_outside_bundle",
                f"run_job_task.job_id is {job_id!r}; a flow can only run jobs of this bundle: define the "
                f"job under resources.jobs and write job_id: ${{resources.jobs.<key>.id}}",
                (*rpath, "job_id"),
                key,
            )
            return None
        found = self._child(child_key)
        if found is None:
            self.ctx.failed = True  # reported as unknown_job while resolving ${resources...}
            return None
        child, has_lakehook = found
        if child.is_flow:
            self.ctx.problem(
                "nested_flow",
                f"task '{key}' runs '{child_key}', which is itself a flow; a flow cannot run another flow "
                f"(yet): run its jobs from this flow instead",
                (*rpath, "job_id"),
                key,
            )
            return None
        if not has_lakehook:
            self.ctx.failed = True  # reported once per child job, by the bundle-wide check
            self.ctx.child_uses.setdefault(child_key, []).append(f"{self.ctx.job.key}.{key}")
        self.job_refs.setdefault(child_key, JobRef(child_key, child.name, None, child.is_external))
        params = {**self._passed_down(child), **params}
        kind = TaskKind.EXTERNAL if child.is_external else TaskKind.JOB
        return TaskSpec(key, kind, job_key=child_key, job_parameters=tuple(params.items()), **common)

    def _passed_down(self, child: JobResource) -> dict[str, str]:
        """The flow's own job parameters a child job receives, as Databricks passes a parent job's
        parameters to the job a run_job_task runs: each one the child declares, by name, unless
        the task's job_parameters set it. ``lakehook`` never: it is the attempt's own handle."""
        flow_params = self.ctx.job.spec.get("parameters")
        names = {
            p["name"]
            for p in (flow_params if isinstance(flow_params, list) else [])
            if isinstance(p, dict) and isinstance(p.get("name"), str)
        }
        return {
            name: f"{{{{job.parameters.{name}}}}}"
            for name in sorted(names & set(child.parameters))
            if name != LAKEHOOK_PARAMETER
        }

    def _child(self, child_key: str) -> tuple[JobResource, bool] | None:
        """The child job and whether it can be run by a flow (declares `lakehook`, or is external)."""
        if child_key not in self._children:
            child = self.ctx.bundle.jobs.get(child_key)
            ok = child is not None and (child.is_external or LAKEHOOK_PARAMETER in child.parameters)
            self._children[child_key] = None if child is None else (child, ok)
        return self._children[child_key]

    def _job_parameters(self, key: str, path: PathKey, raw: object) -> dict[str, str]:
        out: dict[str, str] = {}
        if not isinstance(raw, dict):
            return out  # absent, or reported by the schema check
        for name, value in raw.items():
            if isinstance(value, (dict, list)):
                self.ctx.failed = True  # the schema check reports it
                continue
            text = scalar_text(value)
            if name == LAKEHOOK_PARAMETER:
                self.ctx.problem(
                    "reserved_parameter",
                    "job_parameters must not set `lakehook`: the resolver fills it with the callback handle",
                    (*path, name),
                    key,
                )
                continue
            if "${" in text or "{{" in text:
                self._template(key, (*path, name), text, f"job parameter '{name}'")
            out[str(name)] = text
        return out

    def _condition(self, key: str, path: PathKey, cond: object) -> Condition | None:
        if not isinstance(cond, dict):
            self.ctx.problem("bad_condition", "condition_task needs op, left and right", path, key)
            return None
        problems = []
        unknown = sorted(set(cond) - {"op", "left", "right"})
        if unknown:
            problems.append(f"unknown field(s) {', '.join(unknown)} (it takes op, left, right)")
        missing = [f for f in ("op", "left", "right") if cond.get(f) is None]
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        op = cond.get("op")
        if op is not None and op not in ConditionOp._value2member_map_:
            problems.append(f"op {op!r} is not one of {_OPS}")
        problems.extend(
            f"{side} must be a string"
            for side in ("left", "right")
            if isinstance(cond.get(side), (dict, list))
        )
        if problems:
            self.ctx.problem("bad_condition", f"condition_task: {'; '.join(problems)}", path, key)
            return None
        left, right = scalar_text(cond["left"]), scalar_text(cond["right"])
        self._template(key, (*path, "left"), left, "condition left")
        self._template(key, (*path, "right"), right, "condition right")
        return Condition(ConditionOp(op), left, right)

    def _template(self, key: str, path: PathKey, text: str, what: str) -> None:
        self.ctx.leftover(text, path, key, what)
        if "{{" in text:
            self.ctx.templates.append((key, path, text))


def _bool(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
