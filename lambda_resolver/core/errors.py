"""The error tree. Each error owns a stable ``code`` and its HTTP status.

The edges (Lambda handler, local server, CLI) map these in one place; a 500 never echoes the
text of an unexpected exception.
"""

from __future__ import annotations

from typing import Any


class LakehookError(Exception):
    """Base of every error lakehook raises on purpose."""

    code = "internal"
    status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The wire shape: ``{"error": {"code", "message", ...details}}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update(self.details)
        return {"error": body}


class BadRequest(LakehookError):
    code = "bad_request"
    status = 400


class InvalidId(BadRequest):
    code = "invalid_id"


class ValueTooLarge(LakehookError):
    code = "value_too_large"
    status = 413


class Unauthorized(LakehookError):
    code = "unauthorized"
    status = 401


class Forbidden(LakehookError):
    code = "forbidden"
    status = 403


class NotFound(LakehookError):
    code = "not_found"
    status = 404


class UnknownFlow(NotFound):
    code = "unknown_flow"


class Conflict(LakehookError):
    """A request that contradicts stored state (the stored record is attached)."""

    code = "conflict"
    status = 409


class AlreadySettled(Conflict):
    """The promise was settled differently, or timed out, before this settle arrived."""

    code = "already_settled"


class RunConflict(Conflict):
    """A start with an existing run id but different flow or parameters."""

    code = "run_conflict"


class RepairConflict(Conflict):
    """A repair the run's state refuses: it has not ended, another repair came first (a stale or
    missing ``latest_repair_id``), or there is nothing to rerun."""

    code = "repair_conflict"


class ConcurrencyLimit(Conflict):
    """The flow already has ``max_concurrent_runs`` active runs and does not queue."""

    code = "max_concurrent_runs"


class StoreConflict(LakehookError):
    """A conditional write lost: the record changed under us. Carries the current record."""

    code = "store_conflict"
    status = 409

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current


class LaunchError(LakehookError):
    """Databricks refused to start or read a run."""

    code = "launch_failed"
    status = 502

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class CompileError(LakehookError):
    """The bundle does not compile. ``problems`` lists every problem found, not just the first."""

    code = "invalid_bundle"
    status = 400

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{len(problems)} problem(s) in the bundle:\n{lines}",
            details={"problems": [p.to_dict() for p in problems]},
        )


class Problem:
    """One compile problem: where it is and what to fix.

    ``severity`` is ``"error"`` (the bundle does not compile) or ``"warning"`` (the Databricks CLI
    warns about it too, and it fails only ``lakehook validate --strict``).
    """

    __slots__ = ("code", "file", "job", "line", "message", "severity", "task")

    def __init__(
        self,
        code: str,
        message: str,
        *,
        file: str | None = None,
        job: str | None = None,
        task: str | None = None,
        line: int | None = None,
        severity: str = "error",
    ) -> None:
        self.code = code
        self.message = message
        self.file = file
        self.job = job
        self.task = task
        self.line = line
        self.severity = severity

    @property
    def is_warning(self) -> bool:
        return self.severity == "warning"

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "job": self.job,
            "task": self.task,
            "line": self.line,
        }

    def __str__(self) -> str:
        where = self.file or "<bundle>"
        if self.line:
            where += f":{self.line}"
        if self.job:
            where += f" job '{self.job}'"
        if self.task:
            where += f" task '{self.task}'"
        tag = "warning " if self.is_warning else ""
        return f"{where}: {tag}[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"Problem({self!s})"
