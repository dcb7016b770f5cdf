"""The local workspace's job registry: ``jobs/get`` and ``jobs/list`` as Databricks answers them.

Jobs are registered from code (``lakehook dev`` registers the bundle's jobs, tests register
what they need) with their Databricks job settings; re-registering a bundle key updates that
job in place and keeps its id, as ``databricks bundle deploy`` does. With a state file
(:class:`~lambda_resolver.local.persist.WorkspaceState`) jobs and the id counter outlive the
process: a restarted workspace gives a bundle key the id it had, so published flows stay valid.
"""

from __future__ import annotations

import base64
import binascii
import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambda_resolver.local.persist import WorkspaceState

MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 20


class ApiError(Exception):
    """A Databricks-shaped error answer: ``{"error_code": ..., "message": ...}`` with a status.
    The SDK picks its exception class from the error code, then from the status."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error_code": self.error_code, "message": self.message}


def invalid(message: str) -> ApiError:
    """400 INVALID_PARAMETER_VALUE: what Databricks answers for bad values and missing ids."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def int_param(params: Mapping[str, Any], name: str) -> int:
    """A required integer field of a query or body, or a 400 naming it."""
    raw = params.get(name)
    if raw is None or raw == "":
        raise invalid(f"Missing required field: {name}")
    if isinstance(raw, bool):
        raise invalid(f"Invalid value for {name}: {raw!r}")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid(f"Invalid value for {name}: {raw!r}") from None


@dataclass
class LocalJob:
    """A registered job: its id, bundle key (if any) and Databricks job settings."""

    job_id: int
    key: str | None
    settings: dict[str, Any]
    created_time: int

    @property
    def name(self) -> str:
        return str(self.settings.get("name", ""))

    @property
    def parameters(self) -> list[dict[str, Any]]:
        """The declared job parameters, ``[{"name": ..., "default": ...}]``."""
        return list(self.settings.get("parameters") or [])

    def to_api(self, *, expand_tasks: bool = True) -> dict[str, Any]:
        settings = copy.deepcopy(self.settings)
        if not expand_tasks:
            settings.pop("tasks", None)
            settings.pop("job_clusters", None)
        return {
            "job_id": self.job_id,
            "creator_user_name": "local@lakehook",
            "run_as_user_name": "local@lakehook",
            "created_time": self.created_time,
            "settings": settings,
        }


class JobRegistry:
    """Thread-safe job registry with Databricks' ``jobs/get`` and ``jobs/list`` answers."""

    def __init__(self, first_id: int = 1001, *, state: WorkspaceState | None = None) -> None:
        self._jobs: dict[int, LocalJob] = {}
        self._next_id = first_id
        self._lock = threading.Lock()
        self._state = state
        if state is not None:  # the jobs registered before a restart, and where the ids were
            for row in state.jobs():
                self._jobs[row.job_id] = LocalJob(row.job_id, row.key, row.settings, row.created_time)
            self._next_id = max(first_id, state.counter("job_id") or first_id)

    def register(
        self, job_id: int | None, name: str, spec: Mapping[str, Any], key: str | None, now: int
    ) -> int:
        """Add or replace a job. ``job_id`` None picks a new id, or the id already registered
        under ``key``. Returns the job id."""
        settings = copy.deepcopy(dict(spec))
        settings["name"] = name
        with self._lock:
            if job_id is None and key is not None:
                job_id = next((j.job_id for j in self._jobs.values() if j.key == key), None)
            next_id = self._next_id
            if job_id is None:
                while next_id in self._jobs:
                    next_id += 1
                job_id, next_id = next_id, next_id + 1
            old = self._jobs.get(job_id)
            created = old.created_time if old is not None else now
            job = LocalJob(job_id, key, settings, created)
            if self._state is not None:  # on disk first: a failed write registers nothing
                self._state.save_job(
                    job_id,
                    key=key,
                    name=job.name,
                    settings=settings,
                    created_time=created,
                    next_job_id=next_id,
                )
            self._jobs[job_id], self._next_id = job, next_id
            return job_id

    def get(self, job_id: int) -> LocalJob:
        """The job, or the 400 Databricks answers for a missing one."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise invalid(f"Job {job_id} does not exist.")
        return job

    def delete(self, job_id: int) -> None:
        """Delete a job, as ``databricks jobs delete`` does; a missing job is the usual 400.
        Its id is not handed out again."""
        with self._lock:
            if job_id not in self._jobs:
                raise invalid(f"Job {job_id} does not exist.")
            if self._state is not None:
                self._state.delete_job(job_id)
            del self._jobs[job_id]

    def by_key(self) -> dict[str, int]:
        """Bundle job key → job id (what ``databricks bundle summary`` tells after a deploy)."""
        with self._lock:
            return {j.key: j.job_id for j in self._jobs.values() if j.key is not None}

    # -- the API -------------------------------------------------------------------------------------
    def api_get(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET jobs/get?job_id=``."""
        return self.get(int_param(query, "job_id")).to_api()

    def api_delete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST jobs/delete`` with ``{"job_id"}``."""
        self.delete(int_param(body, "job_id"))
        return {}

    def api_list(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET jobs/list`` with ``name`` (exact, case-insensitive), ``limit`` (1 to 100, default
        20), ``expand_tasks`` and ``page_token``/``offset`` paging, oldest job first."""
        limit = int_param(query, "limit") if "limit" in query else DEFAULT_LIST_LIMIT
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise invalid(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
        offset = _decode_token(query["page_token"]) if query.get("page_token") else 0
        if "offset" in query and not query.get("page_token"):
            offset = int_param(query, "offset")
        expand = str(query.get("expand_tasks", "false")).lower() == "true"
        name = query.get("name")
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.job_id)
        if name:
            jobs = [j for j in jobs if j.name.casefold() == name.casefold()]
        page = jobs[offset : offset + limit]
        body: dict[str, Any] = {
            "jobs": [j.to_api(expand_tasks=expand) for j in page],
            "has_more": offset + limit < len(jobs),
        }
        if body["has_more"]:
            body["next_page_token"] = _encode_token(offset + limit)
        if offset > 0:
            body["prev_page_token"] = _encode_token(max(0, offset - limit))
        if not page:
            del body["jobs"]  # Databricks omits the empty list
        return body


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        offset = int(value) if kind == "offset" else -1
    except (ValueError, binascii.Error, UnicodeDecodeError):
        offset = -1
    if offset < 0:
        raise invalid(f"Invalid page token: {token!r}")
    return offset
