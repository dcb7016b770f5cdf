"""``GET /v1/runs/{id}/tasks/{key}/logs``: what a task attempt's Databricks run left behind.

On AWS that is ``runs/get-output`` of each task run of the job run the attempt started (error,
error trace, logs; the run page link); on the local stack the same call, where the local
workspace answers with the task's whole log file. An attempt that started no Databricks run (an
approval gate, a condition, a task not started yet) answers with a ``note`` saying so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lambda_resolver.core.engine import Engine
from lambda_resolver.core.errors import NotFound
from lambda_resolver.core.ids import check_id, task_promise_id
from lambda_resolver.core.run_output import OutputReader


def task_logs(engine: Engine, run_id: str, task_key: str, attempt: int | None) -> tuple[int, dict[str, Any]]:
    """The logs document of ``attempt`` (default: the latest) of ``task_key`` in ``run_id``."""
    run = engine.get_run(check_id(run_id, "run_id"))
    task = next((t for t in engine.list_tasks(run.run_id) if t.key == task_key), None)
    if task is None:
        raise NotFound(f"run {run_id} has no task '{task_key}'")
    wanted = task.attempt if attempt is None else attempt
    if attempt is not None and not 1 <= attempt <= task.attempt:
        raise NotFound(
            f"task '{task_key}' of run {run_id} has no attempt {attempt} (it is at {task.attempt})"
        )
    doc: dict[str, Any] = {
        "run_id": run.run_id,
        "task_key": task.key,
        "attempt": wanted,
        "promise_id": None,
        "state": task.state.value,
        "databricks_run_id": None,
        "run_page_url": None,
        "databricks": None,
        "tasks": [],
        "note": None,
    }
    if wanted == 0:
        doc["note"] = "the task has not started"
        return 200, doc
    promise = engine.get_promise(task_promise_id(run.run_id, task.key, wanted))
    doc.update(
        promise_id=promise.id,
        state=promise.state.value if wanted != task.attempt else task.state.value,
        databricks_run_id=promise.databricks_run_id,
        run_page_url=promise.run_page_url,
    )
    if promise.databricks_run_id is None:
        doc["note"] = "this attempt started no Databricks run (an approval gate, a condition, or not yet)"
        return 200, doc
    launcher = engine.ctx.launcher
    if not isinstance(launcher, OutputReader):
        doc["note"] = "this resolver's launcher cannot read run output"
        return 200, doc
    output = launcher.get_output(promise.databricks_run_id)
    doc["run_page_url"] = output.run_page_url or promise.run_page_url
    doc["databricks"] = {"life": output.life, "result": output.result, "message": output.message}
    doc["tasks"] = [dataclasses.asdict(t) for t in output.tasks]
    return 200, doc
