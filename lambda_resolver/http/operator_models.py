"""The operator door's request bodies and answer documents: runs, standalone promises, flows,
schedules (described in ``/openapi.json``).

Kept apart from :mod:`.models` (the callback door's) so that a container answering callbacks never
builds them: pydantic pays for every model class when its module is imported, and these are
imported with the operator routes, on the first request that needs them (:mod:`.app`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from lambda_resolver.core.models import RunState, TaskState
from lambda_resolver.http.models import MAX_TIMEOUT_S, FlowName, IdStr, Model, Strict, Url, _not_bool


class StartRunBody(Strict):
    """``POST /v1/runs``. The same ``run_id`` again returns the run it started (200)."""

    flow: FlowName
    run_id: IdStr | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    notify_url: Url | None = None


class JobSpec(Strict):
    """The job a standalone promise starts: a Databricks ``job_id`` or a bundle ``job_key``."""

    job_id: Annotated[int, Field(gt=0), BeforeValidator(_not_bool)] | None = None
    job_key: str | None = Field(default=None, min_length=1, max_length=256)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_job(self) -> JobSpec:
        if (self.job_id is None) == (self.job_key is None):
            raise ValueError("give exactly one of job_id and job_key")
        return self


class CreatePromiseBody(Strict):
    """``POST /v1/promises``: a standalone promise, optionally starting one job for it."""

    id: IdStr
    timeout_s: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_S), BeforeValidator(_not_bool)] | None = None
    job: JobSpec | None = None
    notify_url: Url | None = None


class RepairRunBody(Strict):
    """``POST /v1/runs/{id}/repair``, as Databricks' ``runs/repair`` (all optional): with neither
    ``rerun_tasks`` nor ``rerun_all_failed_tasks``, every task that did not succeed reruns."""

    rerun_tasks: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=10_000, description="The tasks to rerun, by key."
    )
    rerun_all_failed_tasks: bool = False
    rerun_dependent_tasks: bool = Field(
        default=False, description="Rerun the dependents of the rerun tasks even if they succeeded."
    )
    latest_repair_id: Annotated[int, Field(ge=1), BeforeValidator(_not_bool)] | None = Field(
        default=None, description="The run's latest_repair_id: required after its first repair."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Flow parameters for the rerun tasks, over the run's own."
    )


class IterationDocument(Model):
    """One iteration of a for_each task: its input, state, current try and Databricks run."""

    index: int
    input: Any = None
    state: str = Field(description="PENDING | RUNNING | SUCCESS | FAILED | TIMEDOUT | CANCELED")
    attempt: int = Field(description="Its tries so far (1 + retries); 0 while PENDING.")
    promise_id: str | None = Field(description="<run>.<task>.<attempt>.<n>, a retry ….<n>.<try>")
    databricks_run_id: int | None
    run_page_url: str | None
    value: Any = None
    error: dict[str, Any] | None
    triggered_at: str | None
    settled_at: str | None


class TaskDocument(Model):
    """One task of a run: its state, attempt, value or error, Databricks run and timings."""

    task_key: str
    state: TaskState
    attempt: int
    promise_id: str | None
    value: Any = None
    error: dict[str, Any] | None
    databricks_run_id: int | None
    run_page_url: str | None
    triggered_at: str | None
    settled_at: str | None
    outcome: str | None = Field(default=None, description="A condition task's outcome: true/false.")
    value_omitted: bool | None = Field(
        default=None,
        description="true: the value was left out of this run document (see /v1/runs/{id}/tasks/{task_key}).",
    )
    iterations: dict[str, int] | None = Field(
        default=None,
        description='A for_each task: {"total": N, "<STATE>": count, ...} over its iterations '
        "(PENDING, RUNNING, SUCCESS, FAILED, TIMEDOUT, CANCELED; zero counts left out).",
    )
    items: list[IterationDocument] | None = Field(
        default=None,
        description="A for_each task at /v1/runs/{id}/tasks/{task_key}: a page of its iterations, by index.",
    )
    next_cursor: str | None = Field(
        default=None, description="A for_each task's next page of iterations (pass as ?cursor=); null: none."
    )


class RunTriggerDocument(Model):
    """What started a run: ``manual``, or a schedule's slot and the slots skipped before it."""

    type: str = Field(description="manual | schedule | periodic")
    slot: str | None = Field(description="The slot (ISO 8601 UTC) a scheduled run is for; null if manual.")
    skipped: int = Field(description="Slots missed before this one that did not run (no backfill).")


class RunSummary(Model):
    """A flow run without its tasks."""

    run_id: str
    flow: str
    flow_version: int
    state: RunState
    params: dict[str, str]
    created_at: str
    ended_at: str | None
    repair_count: int = Field(default=0, description="How often the run was repaired.")
    latest_repair_id: int | None = Field(
        default=None, description="The latest repair; a further repair must name it (null: none yet)."
    )
    trigger: RunTriggerDocument
    notify_url: str | None = None


class RunDocument(RunSummary):
    """A flow run and every task, in the flow's order (what `lakehook status --json` prints)."""

    tasks: list[TaskDocument]


class RunList(Model):
    """A page of runs, newest first; pass ``next_cursor`` as ``cursor`` for the next (null: none).
    ``truncated``: the page ended early so the answer fits Lambda's limit; the cursor goes on."""

    runs: list[RunSummary]
    next_cursor: str | None
    truncated: bool | None = None


class FlowSummary(Model):
    """The latest version of a flow, counted."""

    name: str
    version: int
    display_name: str
    tasks: int
    jobs: int
    parameters: dict[str, str]
    source: str


class FlowList(Model):
    """Every published flow."""

    flows: list[FlowSummary]


class Published(Model):
    """The version a publish stored."""

    flow: str
    version: int


class ScheduleDocument(Model):
    """A flow's schedule and lakehook's switch for it; ``next_at`` is null while paused."""

    flow: str
    schedule: dict[str, Any] | None = Field(
        description="The flow job's schedule: {kind: schedule, quartz_cron_expression, timezone_id} "
        "or {kind: periodic, interval, unit}; null if the flow has none."
    )
    active: bool
    next_at: str | None


class ScheduleList(Model):
    """Every flow that has (or had) a schedule, by flow."""

    schedules: list[ScheduleDocument]
