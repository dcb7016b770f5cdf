"""What changed between the bundle's flows and the resolver's latest versions, for people."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_resolver.core.manifest import FlowManifest

NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"


@dataclass
class FlowChange:
    """One flow of the bundle against the resolver's latest version of it."""

    flow: str
    status: str  # new | changed | unchanged
    current_version: int | None
    changes: list[str]
    manifest: FlowManifest
    version: int | None = None  # the version published (None on a dry run)

    def line(self, *, dry_run: bool = False) -> str:
        """``nightly: v3 → v4 (job ids changed: extract_a 101 → 205; tasks: +cleanup)``."""
        if self.status == UNCHANGED:
            return f"{self.flow}: unchanged (v{self.current_version})"
        old = "new" if self.current_version is None else f"v{self.current_version}"
        new = self.version if self.version is not None else (self.current_version or 0) + 1
        detail = "; ".join(self.changes)
        text = f"{self.flow}: {old} → v{new}" + (f" ({detail})" if detail else "")
        return text + (" [dry run: not published]" if dry_run else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "status": self.status,
            "from_version": self.current_version,
            "version": self.version,
            "changes": list(self.changes),
            "job_ids": {j.key: j.job_id for j in self.manifest.jobs},
        }


def describe_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What differs between two manifests (``FlowManifest.to_dict`` shapes), for people:
    job ids first, then tasks, parameters and settings."""
    if old is None:
        first = [f"{len(new.get('tasks', ()))} tasks, {len(new.get('jobs', ()))} jobs"]
        return first + ([f"schedule: {schedule_text(new['schedule'])}"] if new.get("schedule") else [])
    out: list[str] = []
    old_jobs = {j["key"]: j for j in old.get("jobs", ())}
    new_jobs = {j["key"]: j for j in new.get("jobs", ())}
    moved = [
        f"{k} {old_jobs[k].get('job_id')} → {new_jobs[k].get('job_id')}"
        for k in new_jobs
        if k in old_jobs and old_jobs[k].get("job_id") != new_jobs[k].get("job_id")
    ]
    if moved:
        out.append("job ids changed: " + ", ".join(moved))
    other = [
        k
        for k in new_jobs
        if k in old_jobs
        and {**old_jobs[k], "job_id": None} != {**new_jobs[k], "job_id": None}  # name, external
    ]
    jobs_delta = _delta(old_jobs, new_jobs, changed=other)
    if jobs_delta:
        out.append("jobs: " + jobs_delta)
    old_tasks = {t["key"]: t for t in old.get("tasks", ())}
    new_tasks = {t["key"]: t for t in new.get("tasks", ())}
    changed_tasks = [k for k in new_tasks if k in old_tasks and old_tasks[k] != new_tasks[k]]
    tasks_delta = _delta(old_tasks, new_tasks, changed=changed_tasks)
    if tasks_delta:
        out.append("tasks: " + tasks_delta)
    old_params = {p["name"]: p.get("default") for p in old.get("parameters", ())}
    new_params = {p["name"]: p.get("default") for p in new.get("parameters", ())}
    changed_params = [k for k in new_params if k in old_params and old_params[k] != new_params[k]]
    params_delta = _delta(old_params, new_params, changed=changed_params)
    if params_delta:
        out.append("parameters: " + params_delta)
    if old.get("schedule") != new.get("schedule"):
        out.append(f"schedule: {schedule_text(old.get('schedule'))} → {schedule_text(new.get('schedule'))}")
    out.extend(
        f"{name}: {_show(old.get(name))} → {_show(new.get(name))}"
        for name in ("max_concurrent_runs", "queue", "timeout_seconds", "display_name", "source")
        if old.get(name) != new.get(name)
    )
    if not out and comparable(old) != comparable(new):
        out.append("manifest changed")
    return out


def schedule_text(schedule: Mapping[str, Any] | None) -> str:
    """A schedule (``FlowSchedule.to_dict``) for people: ``cron "0 0 2 * * ?" Europe/Berlin``,
    ``every 4 HOURS``, or ``none``."""
    if not schedule:
        return "none"
    if schedule.get("kind") == "periodic":
        return f"every {schedule.get('interval')} {schedule.get('unit')}"
    return f'cron "{schedule.get("quartz_cron_expression")}" {schedule.get("timezone_id") or "UTC"}'


def _delta(old: Mapping[str, Any], new: Mapping[str, Any], *, changed: Sequence[str]) -> str:
    parts = [f"+{k}" for k in new if k not in old]
    parts += [f"-{k}" for k in old if k not in new]
    parts += [f"~{k}" for k in changed]
    return " ".join(parts)


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, bool)) or value is None else str(value)


def comparable(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest as the store compares it: normalised through FlowManifest, without ``version``."""
    doc = FlowManifest.from_dict(manifest).to_dict()
    doc.pop("version", None)
    return doc
