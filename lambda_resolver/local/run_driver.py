"""One local job run: the loop that starts ready tasks, watches their processes, timeouts and cancels.

The :class:`~lambda_resolver.local.subprocess_executor.SubprocessExecutor` gives each run a
:class:`RunDriver` on its own thread. Every ``poll_interval_s`` (or at once on a cancel) it:
ends the run on a cancel (CANCELED) or past the job's ``timeout_seconds`` (TIMEDOUT); collects
finished processes (their ``<task_key>.result.json``) and stops those past the task's
``timeout_seconds``; then, in the job's order, decides each task whose dependencies are done —
run it (when a process slot is free), or skip it by ``run_if`` (DESIGN §3, through the core's
``evaluate``) — until no task is left. Tasks in a dependency cycle fail without starting.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.manifest import RunIf
from lambda_resolver.core.models import TaskState
from lambda_resolver.core.task_machine import EdgeOutcome, evaluate
from lambda_resolver.local import child_process
from lambda_resolver.local.dbutils_stub import read_task_values
from lambda_resolver.local.job_references import BadReferenceError, RunContext
from lambda_resolver.local.runs import LocalRun
from lambda_resolver.local.task_plan import PlannedTask, TaskSetupError, child_spec, plan_tasks

if TYPE_CHECKING:
    from lambda_resolver.local.subprocess_executor import SubprocessExecutor

log = logging.getLogger("lakehook.local")

RUNNER_MODULE = "lambda_resolver.local.task_runner"
_CYCLE = "The task's depends_on form a cycle (or wait on one); it cannot start"
_EDGE = {
    "SUCCESS": EdgeOutcome.OK,
    "EXCLUDED": EdgeOutcome.EXCLUDED,
    "CANCELED": EdgeOutcome.CANCELED,
    "UPSTREAM_CANCELED": EdgeOutcome.CANCELED,
}


class _Proc:
    def __init__(self, popen: Any, deadline: float | None, timeout_s: float | None, kind: str) -> None:
        self.popen, self.deadline, self.timeout_s, self.kind = popen, deadline, timeout_s, kind


class RunDriver:
    """One job run: the loop that starts ready tasks, watches processes, timeouts and cancels."""

    def __init__(self, ex: SubprocessExecutor, run: LocalRun) -> None:
        self.ex, self.run = ex, run
        self.dir = ex.run_dir(run.run_id)
        self.results: dict[str, str] = {}  # task key → SUCCESS/FAILED/TIMEDOUT/CANCELED/EXCLUDED/UPSTREAM_*
        self.errors: dict[str, str] = {}
        self.running: dict[str, _Proc] = {}
        self.holding: set[str] = set()  # tasks holding a process slot

    def drive(self) -> None:
        try:
            self._drive()
        except Exception as exc:  # a bug here must still end the run
            log.exception("local run %s: the executor failed", self.run.run_id)
            for key in list(self.running):
                self._stop(key)
            self.run.finish(
                "INTERNAL_ERROR", message=f"The local executor failed: {type(exc).__name__}: {exc}"
            )
        finally:
            for key in list(self.holding):
                self._release(key)
            self.ex.forget_run(self.run.run_id)

    def _drive(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)  # a run id used again (the local workspace restarted)
        self.dir.mkdir(parents=True)
        pending = plan_tasks([(t.task_key, t.spec) for t in self.run.tasks])
        keys = {t.key for t in pending}
        timeout = self.run.job_settings.get("timeout_seconds")
        job_timeout = float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else None
        job_deadline = time.monotonic() + job_timeout if job_timeout else None
        while pending or self.running:
            if self.run.cancel_requested.is_set():
                self._end_all("CANCELED", "Run cancelled.", pending)
                return
            if job_deadline is not None and time.monotonic() >= job_deadline:
                self._end_all(
                    "TIMEDOUT",
                    f"The job run timed out after {job_timeout:g} seconds (timeout_seconds).",
                    pending,
                )
                return
            self._watch()
            progressed = waiting_for_slot = False
            for task in list(pending):
                unknown = [d for d in task.depends_on if d not in keys]
                if not unknown and any(d not in self.results for d in task.depends_on):
                    continue
                if not unknown and self._decide(task) == "run" and not self._take_slot(task.key):
                    waiting_for_slot = True  # every slot is busy, maybe with other runs' tasks
                    break  # keep the job's order
                pending.remove(task)
                progressed = True
                if unknown:
                    self._finish(
                        task.key, "FAILED", f"The task depends on unknown task(s): {', '.join(unknown)}"
                    )
                else:
                    self._begin(task)
            if not progressed and not self.running and not waiting_for_slot and pending:
                for task in pending:
                    self._finish(task.key, "FAILED", _CYCLE)
                return
            if not progressed:
                self.run.cancel_requested.wait(self.ex.poll_interval_s)

    def _decide(self, task: PlannedTask) -> str:
        """``run``, or the result of a task that does not run (UPSTREAM_FAILED, EXCLUDED...)."""
        try:
            run_if = RunIf(task.run_if)
        except ValueError:
            return "run"  # reported as a setup error when it starts
        edges = [_EDGE.get(self.results[d], EdgeOutcome.FAILED) for d in task.depends_on]
        state = evaluate(run_if, edges)
        return "run" if state is TaskState.TRIGGERING else str(state.value)

    def _begin(self, task: PlannedTask) -> None:
        decision = self._decide(task)
        if decision != "run":
            failed = [
                f"{d} ({self.errors.get(d) or self.results[d]})"
                for d in task.depends_on
                if self.results[d] != "SUCCESS"
            ]
            self._skip(task.key, decision, failed)
            return
        if task.run_if not in RunIf.__members__:
            self._release(task.key)
            what = f"unknown run_if {task.run_if!r} (one of {', '.join(RunIf.__members__)})"
            self._finish(task.key, "FAILED", f"The task could not start locally: {what}", error=what)
            return
        try:
            self._spawn(task)
        except (TaskSetupError, BadReferenceError, OSError) as exc:
            self._release(task.key)
            self._finish(task.key, "FAILED", f"The task could not start locally: {exc}", error=str(exc))

    def _skip(self, key: str, decision: str, upstream: list[str]) -> None:
        self.results[key] = decision
        why = ", ".join(upstream) or "none"
        if decision == "EXCLUDED":
            self.run.finish(
                "SUCCESS",
                task_key=key,
                message=f"Excluded: its run_if condition was not met (upstream: {why})",
            )
        elif decision == "UPSTREAM_CANCELED":
            self.run.finish("CANCELED", task_key=key, message=f"Upstream task(s) canceled: {why}")
        else:
            self.errors[key] = "upstream failed"
            self.run.finish(
                "FAILED", task_key=key, message=f"UPSTREAM_FAILED: upstream task(s) failed: {why}"
            )

    def _spawn(self, task: PlannedTask) -> None:
        run, key = self.run, task.key
        ctx = RunContext(
            job_id=run.job_id, job_name=run.job_name, run_id=run.run_id, start_ms=run.start_time,
            job_parameters=dict(run.job_parameters), task_key=key, task_run_id=run.task(key).run_id,
            task_runs={t.task_key: t.run_id for t in run.tasks}, results=dict(self.results),
            task_values=read_task_values(str(self.dir / "task_values.json")),
        )  # fmt: skip
        spec = child_spec(task.settings, ctx, self.ex.bundle_root)
        spec.update(
            version=1, run_id=run.run_id, job_id=run.job_id, task_key=key, task_run_id=ctx.task_run_id,
            task_keys=[t.task_key for t in run.tasks], state_dir=str(self.ex.state_dir),
            task_values_file=str(self.dir / "task_values.json"),
            result_file=str(self.dir / f"{safe_name(key)}.result.json"),
            secrets_file=str(self.ex.secrets_file) if self.ex.secrets_file else None, parent_pid=os.getpid(),
        )  # fmt: skip
        spec_path = self.dir / f"{safe_name(key)}.spec.json"
        spec_path.write_text(json.dumps(spec, indent=1))
        cwd = spec.pop("cwd")
        env = self.ex.child_env([cwd])
        popen = child_process.spawn(
            [self.ex.python, "-m", RUNNER_MODULE, str(spec_path)], cwd=cwd, env=env, log_path=self._log(key)
        )
        deadline = time.monotonic() + task.timeout_s if task.timeout_s else None
        self.running[key] = _Proc(popen, deadline, task.timeout_s, spec["kind"])
        run.mark_running(task_key=key)

    def _watch(self) -> None:
        for key, proc in list(self.running.items()):
            if proc.popen.poll() is not None:
                child_process.reap(proc.popen)
                del self.running[key]
                self._release(key)
                self._collect(key, proc)
            elif proc.deadline is not None and time.monotonic() >= proc.deadline:
                self._stop(key)
                msg = (
                    f"Task {key} timed out after {proc.timeout_s:g} seconds (timeout_seconds); "
                    "its processes were stopped."
                )
                self._finish(key, "TIMEDOUT", msg, logs=True)

    def _collect(self, key: str, proc: _Proc) -> None:
        result_file = self.dir / f"{safe_name(key)}.result.json"
        try:
            outcome = json.loads(result_file.read_text())
        except (OSError, ValueError):
            how = child_process.describe_exit(proc.popen.returncode)
            what = f"The task process {how} without reporting a result"
            self._finish(key, "FAILED", what, error=what, logs=True)
            return
        if outcome.get("result") == "SUCCESS":
            logs = self._tail(key) if proc.kind != "notebook" else None  # as Databricks: script output
            self.results[key] = "SUCCESS"
            self.run.finish("SUCCESS", task_key=key, output=outcome.get("output"), logs=logs)
            return
        error = str(outcome.get("error") or "The task failed")
        self._finish(key, "FAILED", error, error=error, error_trace=outcome.get("error_trace"), logs=True)

    def _finish(
        self, key: str, result: str, message: str, *, error: str | None = None,
        error_trace: str | None = None, logs: bool = False,
    ) -> None:  # fmt: skip
        self.results[key] = result
        self.errors[key] = error or message
        log_file = self._log(key)
        if log_file.exists():
            message = f"{message} (log: {log_file})"
        self.run.finish(
            result, task_key=key, message=message, error=error, error_trace=error_trace,
            logs=self._tail(key) if logs else None,
        )  # fmt: skip

    def _end_all(self, result: str, message: str, pending: list[PlannedTask]) -> None:
        """Stop every running task and end them and every task not started with ``result``."""
        for key in list(self.running):
            self._stop(key)
            self._finish(key, result, message, logs=True)
        for task in pending:
            self.results[task.key] = result
            self.run.finish(result, task_key=task.key, message=message)
        pending.clear()

    def _stop(self, key: str) -> None:
        proc = self.running.pop(key)
        child_process.stop(proc.popen, self.ex.kill_grace_s)
        self._release(key)

    def _take_slot(self, key: str) -> bool:
        if key in self.holding:
            return True
        if self.ex.slots.acquire(blocking=False):
            self.holding.add(key)
            return True
        return False

    def _release(self, key: str) -> None:
        if key in self.holding:
            self.holding.discard(key)
            self.ex.slots.release()

    def _log(self, key: str) -> Path:
        return self.ex.log_path(self.run.run_id, key)

    def _tail(self, key: str) -> str | None:
        return child_process.log_tail(self._log(key)) or None


def safe_name(task_key: str) -> str:
    """A task key as a file name (Databricks keys are ``[A-Za-z0-9_-]`` already)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in task_key) or "task"
