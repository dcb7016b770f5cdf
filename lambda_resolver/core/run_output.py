"""What a person reads when a Databricks run failed: each task run's error, trace and log.

Kept apart from :mod:`.launcher` (the protocol every launcher implements) because only the logs
route reads it (``GET /v1/runs/{id}/tasks/{key}/logs``): a callback never defines these classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


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
