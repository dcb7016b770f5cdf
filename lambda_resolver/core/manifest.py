"""The compiled flow: an immutable manifest the engine runs.

The compiler turns a bundle job tagged ``lakehook: flow`` into a :class:`FlowManifest`;
``lakehook publish`` fills in Databricks job ids and stores it as a new version. A flow run pins
the version it started with, so a manifest never changes once stored. Its leaf records are
named tuples: immutable values, and ~10x cheaper to define than frozen dataclasses at a cold start.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from lambda_resolver.core.schedule.spec import FlowSchedule


class RunIf(str, enum.Enum):
    """Databricks' ``run_if`` values, with their Databricks meaning (see task_machine)."""

    ALL_SUCCESS = "ALL_SUCCESS"
    AT_LEAST_ONE_SUCCESS = "AT_LEAST_ONE_SUCCESS"
    NONE_FAILED = "NONE_FAILED"
    ALL_DONE = "ALL_DONE"
    AT_LEAST_ONE_FAILED = "AT_LEAST_ONE_FAILED"
    ALL_FAILED = "ALL_FAILED"


class TaskKind(str, enum.Enum):
    JOB = "job"  # a run_job_task: the resolver triggers a Databricks run
    EXTERNAL = "external"  # a run_job_task on a job tagged `lakehook: external`: waits for a settle
    CONDITION = "condition"  # a condition_task: evaluated by the resolver itself
    FOR_EACH = "for_each"  # a for_each_task: runs its nested run_job_task once per input


class ConditionOp(str, enum.Enum):
    EQUAL_TO = "EQUAL_TO"
    NOT_EQUAL = "NOT_EQUAL"
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_OR_EQUAL = "GREATER_THAN_OR_EQUAL"
    LESS_THAN = "LESS_THAN"
    LESS_THAN_OR_EQUAL = "LESS_THAN_OR_EQUAL"


class Dependency(NamedTuple):
    """One ``depends_on`` entry; ``outcome`` ("true"/"false") only on a condition task."""

    task_key: str
    outcome: str | None = None


class Condition(NamedTuple):
    op: ConditionOp
    left: str
    right: str


class JobRef(NamedTuple):
    """A bundle job a flow task points at. ``job_id`` is known only after publish."""

    key: str
    name: str
    job_id: int | None = None
    external: bool = False


class ForEach(NamedTuple):
    """A ``for_each_task``: ``inputs`` (a JSON array as text, or a reference to an upstream value),
    how many iterations run at once, and the nested task each one runs (a job task)."""

    inputs: str
    concurrency: int
    task: TaskSpec

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "concurrency": self.concurrency, "task": self.task.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ForEach:
        return cls(str(d["inputs"]), int(d.get("concurrency", 1)), TaskSpec.from_dict(d["task"]))


class TaskSpec(NamedTuple):
    key: str
    kind: TaskKind
    depends_on: tuple[Dependency, ...] = ()
    run_if: RunIf = RunIf.ALL_SUCCESS
    job_key: str | None = None
    job_parameters: tuple[tuple[str, str], ...] = ()
    max_retries: int = 0  # -1: retry without limit, as in Databricks
    min_retry_interval_ms: int = 0
    retry_on_timeout: bool = False
    timeout_seconds: int = 0  # 0: the resolver's default task timeout
    condition: Condition | None = None
    for_each: ForEach | None = None

    @property
    def parameters(self) -> dict[str, str]:
        return dict(self.job_parameters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind.value,
            "depends_on": [{"task_key": d.task_key, "outcome": d.outcome} for d in self.depends_on],
            "run_if": self.run_if.value,
            "job_key": self.job_key,
            "job_parameters": dict(self.job_parameters),
            "max_retries": self.max_retries,
            "min_retry_interval_ms": self.min_retry_interval_ms,
            "retry_on_timeout": self.retry_on_timeout,
            "timeout_seconds": self.timeout_seconds,
            "condition": (
                None
                if self.condition is None
                else {
                    "op": self.condition.op.value,
                    "left": self.condition.left,
                    "right": self.condition.right,
                }
            ),
            **({} if self.for_each is None else {"for_each": self.for_each.to_dict()}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaskSpec:
        cond = d.get("condition")
        loop = d.get("for_each")
        return cls(
            key=d["key"],
            kind=TaskKind(d["kind"]),
            depends_on=tuple(Dependency(x["task_key"], x.get("outcome")) for x in d.get("depends_on", ())),
            run_if=RunIf(d.get("run_if", "ALL_SUCCESS")),
            job_key=d.get("job_key"),
            job_parameters=tuple((str(k), str(v)) for k, v in (d.get("job_parameters") or {}).items()),
            max_retries=int(d.get("max_retries", 0)),
            min_retry_interval_ms=int(d.get("min_retry_interval_ms", 0)),
            retry_on_timeout=bool(d.get("retry_on_timeout", False)),
            timeout_seconds=int(d.get("timeout_seconds", 0)),
            condition=(
                None if cond is None else Condition(ConditionOp(cond["op"]), cond["left"], cond["right"])
            ),
            for_each=None if loop is None else ForEach.from_dict(loop),
        )


@dataclass(frozen=True)
class FlowManifest:
    """An immutable, compiled flow. ``version`` is 0 until the store assigns one."""

    name: str
    tasks: tuple[TaskSpec, ...]
    jobs: tuple[JobRef, ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()  # (name, default)
    max_concurrent_runs: int = 1
    queue: bool = False
    timeout_seconds: int = 0  # the flow run's own limit; 0: none beyond each task's
    display_name: str = ""
    source: str = ""  # the bundle file it came from
    version: int = 0
    schedule: FlowSchedule | None = None  # the job's `schedule` or `trigger.periodic`
    _by_key: dict[str, TaskSpec] = field(init=False, repr=False, compare=False)
    _children: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _jobs_by_key: dict[str, JobRef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key = {t.key: t for t in self.tasks}
        children: dict[str, list[str]] = {t.key: [] for t in self.tasks}
        for t in self.tasks:
            for d in t.depends_on:
                if d.task_key in children and t.key not in children[d.task_key]:
                    children[d.task_key].append(t.key)
        object.__setattr__(self, "_by_key", by_key)
        object.__setattr__(self, "_children", {k: tuple(v) for k, v in children.items()})
        object.__setattr__(self, "_jobs_by_key", {j.key: j for j in self.jobs})

    def task(self, key: str) -> TaskSpec:
        return self._by_key[key]

    def has_task(self, key: str) -> bool:
        return key in self._by_key

    def children(self, key: str) -> tuple[str, ...]:
        """The tasks that depend on ``key``: the only ones a settle of ``key`` may touch."""
        return self._children[key]

    def is_leaf(self, key: str) -> bool:
        return not self._children[key]

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.tasks if not t.depends_on)

    @property
    def leaves(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.tasks if not self._children[t.key])

    def job(self, key: str) -> JobRef:
        return self._jobs_by_key[key]

    @property
    def parameter_defaults(self) -> dict[str, str]:
        return dict(self.parameters)

    def with_version(self, version: int) -> FlowManifest:
        return dataclasses.replace(self, version=version)

    def with_job_ids(self, ids: Mapping[str, int]) -> FlowManifest:
        """A copy with deployed job ids filled in (``publish``)."""
        jobs = tuple(JobRef(j.key, j.name, ids.get(j.key, j.job_id), j.external) for j in self.jobs)
        return dataclasses.replace(self, jobs=jobs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "version": self.version,
            "source": self.source,
            "parameters": [{"name": n, "default": d} for n, d in self.parameters],
            "max_concurrent_runs": self.max_concurrent_runs,
            "queue": self.queue,
            "timeout_seconds": self.timeout_seconds,
            "jobs": [
                {"key": j.key, "name": j.name, "job_id": j.job_id, "external": j.external} for j in self.jobs
            ],
            "tasks": [t.to_dict() for t in self.tasks],
            "schedule": None if self.schedule is None else self.schedule.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowManifest:
        schedule = d.get("schedule")
        if schedule is not None:  # a scheduled flow: only then is the schedule code imported
            from lambda_resolver.core.schedule.spec import FlowSchedule

            schedule = FlowSchedule.from_dict(schedule)
        return cls(
            name=d["name"],
            display_name=d.get("display_name", ""),
            version=int(d.get("version", 0)),
            source=d.get("source", ""),
            parameters=tuple((p["name"], str(p.get("default", ""))) for p in d.get("parameters", ())),
            max_concurrent_runs=int(d.get("max_concurrent_runs", 1)),
            queue=bool(d.get("queue", False)),
            timeout_seconds=int(d.get("timeout_seconds", 0)),
            jobs=tuple(
                JobRef(j["key"], j.get("name", j["key"]), j.get("job_id"), bool(j.get("external", False)))
                for j in d.get("jobs", ())
            ),
            tasks=tuple(TaskSpec.from_dict(t) for t in d["tasks"]),
            schedule=schedule,
        )
