"""The launcher protocol: the core's only door to Databricks.

The real launchers (databricks-sdk against a workspace, or the local workspace) live outside
the core; tests use a fake. The core never imports databricks-sdk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class TriggerRequest:
    job_id: int
    job_key: str
    parameters: Mapping[str, str]  # job_parameters, including the `lakehook` handle
    idempotency_token: str  # ≤ 64 chars, derived from the promise id
    promise_id: str


@dataclass(frozen=True)
class Launched:
    databricks_run_id: int
    run_page_url: str | None = None


@dataclass(frozen=True)
class RunStatus:
    """A Databricks run as the core needs it. ``life`` is PENDING/QUEUED/RUNNING/TERMINATING/
    TERMINATED/SKIPPED/INTERNAL_ERROR; ``result`` (SUCCESS/FAILED/TIMEDOUT/CANCELED/...) is set
    once it ended."""

    life: str
    result: str | None = None
    message: str = ""
    output: Any = None  # the notebook's exit value (JSON-decoded when it is JSON)
    run_page_url: str | None = None
    ended_at: int | None = None

    @property
    def ended(self) -> bool:
        return self.life in ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


class Launcher(Protocol):
    def trigger(self, request: TriggerRequest) -> Launched:
        """Start the job (``run_now`` with the idempotency token). Raises LaunchError."""
        ...

    def cancel(self, databricks_run_id: int) -> None:
        """Cancel a run; a run that already ended is not an error."""
        ...

    def get_run(self, databricks_run_id: int) -> RunStatus:
        """Read a run's state and, once it ended, its output. Raises LaunchError."""
        ...


@dataclass(frozen=True)
class TaskOutput:
    """One task run of a Databricks run, as ``runs/get-output`` gives it: what a person reads
    when a task failed (the error, its trace, the task's log)."""

    task_key: str
    databricks_run_id: int
    life: str
    result: str | None = None
    message: str = ""
    error: str | None = None
    error_trace: str | None = None
    logs: str | None = None
    logs_truncated: bool = False


@dataclass(frozen=True)
class RunOutput:
    """A Databricks run and the output of each of its task runs."""

    life: str
    result: str | None = None
    message: str = ""
    run_page_url: str | None = None
    tasks: tuple[TaskOutput, ...] = ()


@runtime_checkable
class OutputReader(Protocol):
    """A launcher that can also read a run's output, for ``GET /v1/runs/{id}/tasks/{key}/logs``.
    Kept apart from :class:`Launcher` so a launcher without it still launches."""

    def get_output(self, databricks_run_id: int) -> RunOutput:
        """``runs/get`` and ``runs/get-output`` of each task run. Raises LaunchError."""
        ...
