"""The documents the API answers with: a run (DESIGN §5), run summaries, flow summaries.

The CLI prints exactly these (``status --json``), so they are built here, from the engine,
independent of HTTP. Times are ISO 8601 UTC with milliseconds; tasks come in manifest order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.clock import iso
from lambda_resolver.core.engine import Engine, promise_document
from lambda_resolver.core.errors import NotFound
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import Run, Task
from lambda_resolver.core.notifications import public_url
from lambda_resolver.http import loop_documents

if TYPE_CHECKING:
    from lambda_resolver.core.schedule.machine import ScheduleRecord

MAX_ANSWER_BYTES = 5_000_000
"""The largest answer body, as Lambda carries it (escaped): below its 6 MB with room for the rest."""


def run_summary(run: Run) -> dict[str, Any]:
    """A run without its tasks (``GET /v1/runs``). ``notify_url`` only when the run has one."""
    doc: dict[str, Any] = {
        "run_id": run.run_id,
        "flow": run.flow,
        "flow_version": run.flow_version,
        "state": run.state.value,
        "params": dict(run.params),
        "created_at": iso(run.created_at),
        "ended_at": iso(run.ended_at),
        "repair_count": run.repair_count,
        "latest_repair_id": run.latest_repair_id,
        "trigger": run.trigger.to_document(),
    }
    if run.notify_url:
        doc["notify_url"] = public_url(run.notify_url)  # never a stored user:password@
    return doc


def task_document(task: Task) -> dict[str, Any]:
    """One task of a run document; ``outcome`` only on a condition task that has one."""
    doc: dict[str, Any] = {
        "task_key": task.key,
        "state": task.state.value,
        "attempt": task.attempt,
        "promise_id": task.promise_id,
        "value": task.value,
        "error": task.error,
        "databricks_run_id": task.databricks_run_id,
        "run_page_url": task.run_page_url,
        "triggered_at": iso(task.triggered_at),
        "settled_at": iso(task.settled_at),
    }
    if task.outcome is not None:
        doc["outcome"] = task.outcome
    return doc


def run_document(
    engine: Engine, run_id: str, *, values: bool = True, budget: int = MAX_ANSWER_BYTES
) -> dict[str, Any]:
    """``GET /v1/runs/{id}``: the run and every task, in the order of the flow's manifest.

    ``values=False`` leaves every task value out; otherwise values are left out, largest first,
    only as far as the document would pass ``budget`` (see :func:`fit`). Raises NotFound for an
    unknown run. Reads the run's tasks once (O(tasks)); a settle never builds this.
    """
    run = engine.get_run(run_id)
    doc = run_document_of(engine.list_tasks(run.run_id), run, _task_order(engine, run), engine)
    return fit(doc, values=values, budget=budget)


def documents_of(engine: Engine) -> Callable[[str, str], dict[str, Any]]:
    """What a completion webhook carries: ``(kind, id)`` → a run's or a promise's document."""

    def document(kind: str, record_id: str) -> dict[str, Any]:
        if kind == "run":
            return run_document(engine, record_id)
        return promise_document(engine.get_promise(record_id))

    return document


def run_document_of(
    tasks: list[Task], run: Run, order: list[str], engine: Engine | None = None
) -> dict[str, Any]:
    """The run document of ``run`` with ``tasks`` sorted by ``order`` (unknown keys last); with
    ``engine``, a for_each task carries its iteration counts."""
    rank = {key: i for i, key in enumerate(order)}
    tasks = sorted(tasks, key=lambda t: (rank.get(t.key, len(rank)), t.key))
    doc = run_summary(run)
    doc["tasks"] = [task_document(t) for t in tasks]
    if engine is not None:
        loop_documents.add_counts(engine, run, tasks, doc["tasks"])
    return doc


def answer_size(doc: Any) -> int:
    """The bytes ``doc`` takes inside Lambda's answer: compact JSON, then escaped as the string
    the answer's ``body`` is (quotes and non-ASCII grow) — what the 6 MB limit counts."""
    return len(json.dumps(json.dumps(doc, separators=(",", ":"), ensure_ascii=False)))


def fit(doc: dict[str, Any], *, values: bool = True, budget: int = MAX_ANSWER_BYTES) -> dict[str, Any]:
    """Leave task values out of a run document (``"value": null, "value_omitted": true``):
    all of them with ``values=False``, else the largest until it fits ``budget``. Each value left
    out stays readable at ``GET /v1/runs/{id}/tasks/{task_key}``."""
    tasks = [t for t in doc["tasks"] if t.get("value") is not None]
    if values:
        excess = answer_size(doc) - budget
        if excess <= 0:
            return doc
        sized = sorted(((answer_size(t["value"]), i) for i, t in enumerate(tasks)), reverse=True)
        chosen: list[int] = []
        for size, i in sized:
            if excess <= 0:
                break
            chosen.append(i)
            excess -= size
        tasks = [tasks[i] for i in chosen]
    for t in tasks:
        t["value"] = None
        t["value_omitted"] = True
    return doc


def task_of_run(
    engine: Engine, run_id: str, task_key: str, *, cursor: str | None = None, limit: int = 100
) -> dict[str, Any]:
    """``GET /v1/runs/{id}/tasks/{task_key}``: one task's document, its value in full (at most
    256 KiB, so always under the answer limit); a for_each task's with a page of its iterations
    (``cursor``, ``limit``). NotFound for an unknown run or task."""
    run = engine.get_run(run_id)
    task = engine.get_task(run_id, task_key)
    if task is None:
        raise NotFound(f"run '{run_id}' has no task '{task_key[:100]}'")
    doc = task_document(task)
    if task.key in loop_documents.for_each_keys(engine, run):
        doc.update(loop_documents.iteration_page(engine, task, cursor, limit))
    return doc


def _task_order(engine: Engine, run: Run) -> list[str]:
    manifest = engine.manifest(run.flow, run.flow_version)
    return [t.key for t in manifest.tasks]


def flow_summary(manifest: FlowManifest) -> dict[str, Any]:
    """One entry of ``GET /v1/flows``: the latest version of a flow, counted."""
    return {
        "name": manifest.name,
        "version": manifest.version,
        "display_name": manifest.display_name,
        "tasks": len(manifest.tasks),
        "jobs": len(manifest.jobs),
        "parameters": manifest.parameter_defaults,
        "source": manifest.source,
    }


def schedule_document(flow: str, record: ScheduleRecord | None) -> dict[str, Any]:
    """``GET /v1/flows/{flow}/schedule``: the schedule, lakehook's switch, the next fire time."""
    spec = None if record is None else record.spec
    return {
        "flow": flow,
        "schedule": None if spec is None else spec.to_dict(),
        "active": bool(record is not None and spec is not None and record.active),
        "next_at": None if record is None else iso(record.due_at),
    }


__all__ = [
    "documents_of",
    "fit",
    "flow_summary",
    "promise_document",
    "run_document",
    "run_summary",
    "schedule_document",
    "task_document",
    "task_of_run",
]
