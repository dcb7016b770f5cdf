"""The launcher protocol: the core's only door to Databricks.

The real launchers (databricks-sdk against a workspace, or the local workspace) live outside
the core; tests use a fake. The core never imports databricks-sdk. Its records are named tuples:
immutable values, and ~10x cheaper to define than frozen dataclasses at a cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol


class TriggerRequest(NamedTuple):
    job_id: int
    job_key: str
    parameters: Mapping[str, str]  # job_parameters, including the `lakehook` handle
    idempotency_token: str  # ≤ 64 chars, derived from the promise id
    promise_id: str


class Launched(NamedTuple):
    databricks_run_id: int
    run_page_url: str | None = None


class RunStatus(NamedTuple):
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
