"""The deployed job ids a publish fills in, and where they came from (a summary or the workspace)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambda_resolver.compiler import Bundle

SUMMARY = "summary"
WORKSPACE = "workspace"


@dataclass(frozen=True)
class DeployedJob:
    """A bundle job as deployed: its key, id, deployed name and page (when known)."""

    key: str
    job_id: int
    name: str = ""
    url: str = ""


@dataclass(frozen=True)
class JobIds:
    """Where the ids came from (``source``: "summary" or "workspace", ``detail`` for people)
    and the deployed job of every key asked for."""

    source: str
    detail: str
    jobs: dict[str, DeployedJob]

    @property
    def ids(self) -> dict[str, int]:
        return {key: job.job_id for key, job in self.jobs.items()}


IdSource = Callable[["Bundle", list[str]], JobIds]
"""Where a publish gets its ids: the bundle and the job keys its flows reference -> :class:`JobIds`."""
