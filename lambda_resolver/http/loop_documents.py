"""The documents of for_each tasks: iteration counts in the run document, and the iterations
themselves, page by page, at ``GET /v1/runs/{id}/tasks/{task_key}``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambda_resolver.core.clock import iso
from lambda_resolver.core.errors import BadRequest
from lambda_resolver.core.manifest import TaskKind
from lambda_resolver.core.models import Run, Task

if TYPE_CHECKING:
    from lambda_resolver.core.engine import Engine
    from lambda_resolver.core.iterations import Iteration, Loop

MAX_PAGE = 500


def for_each_keys(engine: Engine, run: Run) -> set[str]:
    """The keys of the run's for_each tasks (from its pinned manifest)."""
    manifest = engine.manifest(run.flow, run.flow_version)
    return {t.key for t in manifest.tasks if t.kind is TaskKind.FOR_EACH}


def loop_of(engine: Engine, task: Task) -> Loop | None:
    return engine.get_loop(task.run_id, task.key, task.attempt) if task.attempt > 0 else None


def add_counts(engine: Engine, run: Run, tasks: list[Task], docs: list[dict[str, Any]]) -> None:
    """Give each for_each task's document ``"iterations": {"total": N, "<STATE>": count, ...}``
    (one read per for_each task: its loop's counters, never its iterations)."""
    loops = for_each_keys(engine, run)
    for task, doc in zip(tasks, docs, strict=True):
        if task.key in loops:
            loop = loop_of(engine, task)
            doc["iterations"] = loop.counts() if loop is not None else {"total": 0}


def iteration_page(engine: Engine, task: Task, cursor: str | None, limit: int) -> dict[str, Any]:
    """``{"iterations": counts, "items": [...], "next_cursor": str | null}``: the iterations from
    index ``cursor`` (0 when absent), ``limit`` of them; unclaimed ones are PENDING."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
    try:
        start = int(cursor or 0)
    except ValueError:
        raise BadRequest(f"cursor {str(cursor)[:40]!r} is not one this resource gave out") from None
    loop = loop_of(engine, task)
    if loop is None or start >= loop.total or start < 0:
        return {"iterations": {"total": 0 if loop is None else loop.total}, "items": [], "next_cursor": None}
    end = min(loop.total, start + limit)
    claimed = {
        i.index: i
        for i in engine.list_iterations(task.run_id, task.key, task.attempt, start=start, limit=limit)
    }
    items = [
        _iteration_doc(engine, claimed[n]) if n in claimed else _pending(n, loop.inputs[n])
        for n in range(start, end)
    ]
    return {
        "iterations": loop.counts(),
        "items": items,
        "next_cursor": str(end) if end < loop.total else None,
    }


def _iteration_doc(engine: Engine, it: Iteration) -> dict[str, Any]:
    from lambda_resolver.core.iterations import IterationState  # for_each runs only

    doc = {
        "index": it.index,
        "input": it.input,
        "state": it.state.value,
        "attempt": it.tries,
        "promise_id": it.promise_id,
        "databricks_run_id": it.databricks_run_id,
        "run_page_url": it.run_page_url,
        "value": it.value,
        "error": it.error,
        "triggered_at": iso(it.triggered_at),
        "settled_at": iso(it.settled_at),
    }
    if it.state is IterationState.RUNNING:  # its current try's run is on its promise
        p = engine.ctx.store.get_promise(it.promise_id)
        if p is not None:
            doc.update(databricks_run_id=p.databricks_run_id, run_page_url=p.run_page_url, error=p.error)
    return doc


def _pending(index: int, value: Any) -> dict[str, Any]:
    from lambda_resolver.core.iterations import IterationState

    return {
        "index": index,
        "input": value,
        "state": IterationState.PENDING.value,
        "attempt": 0,
        "promise_id": None,
        "databricks_run_id": None,
        "run_page_url": None,
        "value": None,
        "error": None,
        "triggered_at": None,
        "settled_at": None,
    }
