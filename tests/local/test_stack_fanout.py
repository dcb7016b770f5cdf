"""``lakehook dev`` delivers a wide fan-out in chunks too: the invocation that finished the parent
delivers ``fanout_inline`` children, a worker thread the rest, chunk after chunk; every child
runs once and the run succeeds."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from lambda_resolver.core.models import PromiseState, RunState, TaskState
from lambda_resolver.local.stack import LocalStack

CHILDREN = 5
WORK = """\
bundle: {name: t}
include: [bundles/*.yml]
resources:
  jobs:
    work:
      name: work
      parameters:
        - {name: lakehook, default: ""}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: src/work.py}
"""
TASK = """\
        - task_key: {key}
          depends_on: [{{task_key: root}}]
          run_job_task: {{job_id: "${{resources.jobs.work.id}}"}}
"""
FLOW = """\
resources:
  jobs:
    wide:
      tags: {lakehook: flow}
      tasks:
        - task_key: root
          run_job_task: {job_id: "${resources.jobs.work.id}"}
"""


def _bundle(root: Path) -> Path:
    (root / "bundles").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "work.py").write_text("print('work')\n")
    (root / "databricks.yml").write_text(WORK)
    tasks = "".join(TASK.format(key=f"c{i}") for i in range(CHILDREN))
    (root / "bundles" / "wide.yml").write_text(FLOW + tasks)
    return root


def _until(check: Any, what: str, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_lakehook_dev_hands_a_wide_fan_out_on_to_its_worker_in_chunks(tmp_path: Path) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def on_event(name: str, fields: dict[str, Any]) -> None:
        with lock:
            events.append((name, fields))

    settings = {"fanout_inline": 2, "success_grace_ms": 100, "check_interval_ms": 300}
    with LocalStack(
        _bundle(tmp_path / "b"),
        tmp_path / "state",
        port=0,
        settings=settings,
        reconcile_interval_s=0.1,
        on_event=on_event,
    ) as stack:
        engine = stack.engine
        run, _ = engine.start_run("wide")
        root = _until(
            lambda: (t := engine.get_task(run.run_id, "root")) and t.state is TaskState.RUNNING and t,
            "the root to run",
        )
        engine.settle(root.promise_id, PromiseState.RESOLVED, value={"rows": 1})
        done = _until(lambda: (r := engine.get_run(run.run_id)).state.final and r, "the run to end")
        assert done.state is RunState.SUCCESS
        tasks = {t.key: t for t in engine.list_tasks(run.run_id)}
        assert all(t.state is TaskState.SUCCESS and t.attempt == 1 for t in tasks.values()), tasks
        assert tasks["root"].propagated
    with lock:
        handed = [f["offset"] for name, f in events if name == "fanout_handed_on"]
        claims = [f["task_key"] for name, f in events if name == "task_claimed"]
    assert handed == [2, 4]  # the settle delivered c0, c1; the worker c2, c3, then c4
    assert sorted(claims) == sorted(["root", *(f"c{i}" for i in range(CHILDREN))])  # each once
