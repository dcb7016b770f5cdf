"""Request bodies (validated) and answer documents (described in ``/openapi.json``).

Request models forbid unknown fields, so a typo (``param`` for ``params``) is a 422 rather than
a silently ignored setting. Ids are checked by the core (400 ``invalid_id``); the pattern is
repeated here for the OpenAPI document only. The answer models are documentation: the answers
themselves are built by ``documents``/``promise_document``, and a test checks they agree.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from lambda_resolver.core.models import PromiseState, RunState, TaskState

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
MAX_TIMEOUT_S = 7 * 24 * 3600


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads true as 1; a flag where a number belongs is a mistake, not job 1.
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")  # noqa: TRY004 - pydantic wants ValueError
    return value


def _blank_none(value: Any) -> Any:
    return None if value == "" else value


T = TypeVar("T")
BlankIsNone = Annotated[T | None, BeforeValidator(_blank_none)]
"""An optional query parameter where ``?name=`` means "not given"."""

FlowName = Annotated[str, Field(min_length=1, max_length=128)]
Cursor = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$")]
IdStr = Annotated[str, Field(max_length=512, json_schema_extra={"pattern": ID_PATTERN})]
# A bounded number is ``Annotated[int, Field(ge=1), BeforeValidator(_not_bool)]``: bounds before
# the validator. After it (or on ``Int``, which has one) pydantic cannot fold them into the number's
# schema and writes its own ``ge``/``le``/``gt`` into the OpenAPI document, which JSON Schema does
# not know; before it they are ``minimum``/``maximum``/``exclusiveMinimum``.
Int = Annotated[int, BeforeValidator(_not_bool)]
Seconds = Annotated[float, BeforeValidator(_not_bool)]
Url = Annotated[
    str,
    Field(
        max_length=2048,
        pattern=r"^https?://\S+$",
        description="Where the final document is POSTed, signed: a receiver the operator configured "
        "(lakehook dev: a loopback URL), without user:password@; anything else is a 400.",
    ),
]


class Strict(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# -- the callback door ---------------------------------------------------------------------------
class ResolveBody(Strict):
    """``POST /v1/promises/{id}/resolve``: the value, any JSON up to 256 KiB (``null`` too)."""

    value: Any = Field(description="Any JSON value, at most 256 KiB as compact UTF-8 JSON.")


class ErrorInfo(Strict):
    """Why a task failed: a message, an exception type, a (trimmed) traceback."""

    message: str = Field(max_length=16_384)
    type: str | None = Field(default=None, max_length=256)
    traceback: str | None = Field(default=None, max_length=65_536)

    def as_error(self) -> dict[str, Any]:
        """The stored error: ``type`` defaults to ``Error``; ``traceback`` only when given."""
        out: dict[str, Any] = {"type": self.type or "Error", "message": self.message}
        if self.traceback:
            out["traceback"] = self.traceback
        return out


class RejectBody(Strict):
    """``POST /v1/promises/{id}/reject``."""

    error: ErrorInfo


class HeartbeatBody(Strict):
    """``POST /v1/promises/{id}/heartbeat``: push the deadline out (``extend_s`` from now)."""

    extend_s: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S), BeforeValidator(_not_bool)] | None = None


# -- the operator door -----------------------------------------------------------------------------
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


class WebhookRun(BaseModel):
    """The run a notification is about; task-level events add the job run as ``parent_run_id``."""

    run_id: int | str | None = None
    parent_run_id: int | str | None = None


class WebhookPayload(BaseModel):
    """A Databricks job notification. Only a hint: the resolver re-reads the run."""

    model_config = ConfigDict(extra="allow")

    event_type: str | None = None
    run: WebhookRun | None = None


# -- answers (documentation) ---------------------------------------------------------------------
class ErrorDetail(BaseModel):
    """A stable ``code``, a message for people, and details that depend on the code."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message", ...details}}``."""

    error: ErrorDetail


class PromiseDocument(BaseModel):
    """A promise: its state, value or error, times (ISO 8601 UTC, ms) and its task or job run."""

    id: str
    state: PromiseState
    value: Any = None
    error: dict[str, Any] | None = None
    created_at: str
    settled_at: str | None
    timeout_at: str
    run_id: str | None
    task_key: str | None
    attempt: int | None
    databricks_run_id: int | None
    run_page_url: str | None


class ConflictDetail(ErrorDetail):
    """``already_settled``: the stored promise comes with the error."""

    promise: PromiseDocument


class ConflictBody(BaseModel):
    """409: the promise was settled differently (or timed out); the stored promise is attached."""

    error: ConflictDetail


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


class IterationDocument(BaseModel):
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


class TaskDocument(BaseModel):
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


class RunTriggerDocument(BaseModel):
    """What started a run: ``manual``, or a schedule's slot and the slots skipped before it."""

    type: str = Field(description="manual | schedule | periodic")
    slot: str | None = Field(description="The slot (ISO 8601 UTC) a scheduled run is for; null if manual.")
    skipped: int = Field(description="Slots missed before this one that did not run (no backfill).")


class RunSummary(BaseModel):
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


class RunList(BaseModel):
    """A page of runs, newest first; pass ``next_cursor`` as ``cursor`` for the next (null: none).
    ``truncated``: the page ended early so the answer fits Lambda's limit; the cursor goes on."""

    runs: list[RunSummary]
    next_cursor: str | None
    truncated: bool | None = None


class FlowSummary(BaseModel):
    """The latest version of a flow, counted."""

    name: str
    version: int
    display_name: str
    tasks: int
    jobs: int
    parameters: dict[str, str]
    source: str


class FlowList(BaseModel):
    """Every published flow."""

    flows: list[FlowSummary]


class Published(BaseModel):
    """The version a publish stored."""

    flow: str
    version: int


class ScheduleDocument(BaseModel):
    """A flow's schedule and lakehook's switch for it; ``next_at`` is null while paused."""

    flow: str
    schedule: dict[str, Any] | None = Field(
        description="The flow job's schedule: {kind: schedule, quartz_cron_expression, timezone_id} "
        "or {kind: periodic, interval, unit}; null if the flow has none."
    )
    active: bool
    next_at: str | None


class ScheduleList(BaseModel):
    """Every flow that has (or had) a schedule, by flow."""

    schedules: list[ScheduleDocument]


class WebhookAnswer(BaseModel):
    """Always 202 ``{"accepted": true}``: the notification is taken as a hint, nothing is echoed."""

    accepted: bool


class Health(BaseModel):
    """Alive."""

    ok: bool
