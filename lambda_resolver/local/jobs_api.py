"""The Jobs API 2.2 calls the resolver makes, answered from memory (no HTTP here).

``run-now`` honours ``idempotency_token`` — one token, one run, whatever the re-sends — and
validates ``job_parameters`` against the job's declared parameters. ``runs/get``,
``runs/get-output`` (task run ids only) and ``runs/cancel`` answer as Databricks does,
errors included. The executor reports back through :meth:`JobsApi.mark_running` and
:meth:`JobsApi.finish` (the :class:`~lambda_resolver.local.runs.RunReporter` door).

With a state file (:class:`~lambda_resolver.local.persist.WorkspaceState`) every run is on
disk before the request that changed it is answered — a new run with its token before run-now
replies; what the executor reports is written at once and synced with the next such change — and
a new ``JobsApi`` on that file knows every run, token and task-run id of the previous process;
:meth:`JobsApi.resume` deals with the runs that process left active.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.clock import Clock
from lambda_resolver.local.executors import Executor, LogFiles, exit_value, read_log
from lambda_resolver.local.jobs import ApiError, JobRegistry, int_param, invalid
from lambda_resolver.local.runs import (
    MAX_OUTPUT_BYTES,
    RESULTS,
    LocalRun,
    LocalTask,
    output_to_api,
    reset_run,
    restore_run,
    run_doc,
    run_from_doc,
    run_to_api,
    task_to_api,
)

if TYPE_CHECKING:
    from lambda_resolver.local.persist import WorkspaceState

MAX_TOKEN_CHARS = 64
MAX_PARAMETER_BYTES = 10_000
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
MULTI_TASK_OUTPUT = (
    "Retrieving the output of runs with multiple tasks is not supported. "
    "Please retrieve the output of each individual task run instead."
)
STOPPED_MESSAGE = "the local workspace stopped while this run was active"


class JobsApi:
    """Runs of registered jobs. Thread-safe: one condition guards every record."""

    def __init__(
        self,
        jobs: JobRegistry,
        executor: Executor,
        clock: Clock,
        url: Callable[[], str],
        *,
        on_change: Callable[[LocalRun], None] = lambda run: None,
        first_run_id: int = 700_001,
        state: WorkspaceState | None = None,
    ) -> None:
        self.jobs = jobs
        self.executor = executor
        self.clock = clock
        self._url = url
        self._on_change = on_change
        self._next_id = first_run_id  # job runs and task runs share one id sequence
        self._runs: dict[int, LocalRun] = {}
        self._tasks: dict[int, tuple[LocalRun, LocalTask]] = {}  # task run id → (run, task)
        self._by_token: dict[str, int] = {}
        self._started: Counter[str] = Counter()  # runs started per token: at most 1
        self.run_now_calls: Counter[str] = Counter()  # run-now requests per token, re-sends too
        self._cond = threading.Condition(threading.RLock())
        self._state = state
        self._interrupted: list[int] = []  # runs the previous process left active (see resume)
        if state is not None:
            self._load(state, first_run_id)

    # -- the API -------------------------------------------------------------------------------------
    def run_now(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST jobs/run-now``: ``{"run_id", "number_in_job"}``; the same token answers the
        same run and starts nothing."""
        job = self.jobs.get(int_param(body, "job_id"))
        token = body.get("idempotency_token")
        if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS):
            raise invalid(f"idempotency_token must be a string of at most {MAX_TOKEN_CHARS} characters")
        params = self._parameters(job.job_id, job.parameters, body.get("job_parameters"))
        with self._cond:
            if token is not None:
                self.run_now_calls[token] += 1
                existing = self._by_token.get(token)
                if existing is not None:
                    return {"run_id": existing, "number_in_job": existing}
            run = self._new_run(job.job_id, job.name, job.settings, params, token)
        self._on_change(run)
        self._start(run)
        return {"run_id": run.run_id, "number_in_job": run.run_id}

    def get_run(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET jobs/runs/get?run_id=``: legacy ``state`` and 2.2 ``status``, tasks, parameters.
        A task run id answers that task run, pointing at its job run (``job_run_id``)."""
        run_id = int_param(query, "run_id")
        with self._cond:
            if run_id in self._tasks:
                run, task = self._tasks[run_id]
                doc = task_to_api(task, run, self._url())
                return {**doc, "job_id": run.job_id, "run_name": task.task_key}
            run = self._run(run_id)
            return run_to_api(run, self._url(), list(run.job_settings.get("parameters") or []))

    def get_output(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET jobs/runs/get-output?run_id=<task run id>``; a job run id is a 400."""
        run_id = int_param(query, "run_id")
        with self._cond:
            if run_id in self._runs:
                raise invalid(MULTI_TASK_OUTPUT)
            found = self._tasks.get(run_id)
            if found is None:
                raise invalid(f"Run {run_id} does not exist.")
            run, task = found
            body = output_to_api(task, run, self._url())
        if task.ended and isinstance(self.executor, LogFiles):
            # The whole log, where Databricks has only a script's stdout: locally it is at hand.
            found_log = read_log(self.executor.log_path(run.run_id, task.task_key))
            if found_log is not None:
                body["logs"], body["logs_truncated"] = found_log
        return body

    def cancel(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST jobs/runs/cancel``: TERMINATING now, TERMINATED/CANCELED once the executor
        stopped it. An ended run is left alone. A task run id cancels its job run."""
        run_id = int_param(body, "run_id")
        with self._cond:
            run = self._runs.get(run_id) or self._tasks.get(run_id, (None, None))[0]
            if run is None:
                raise invalid(f"Run {run_id} does not exist.")
            if run.ended or run.cancel_requested.is_set():
                return {}
            before = self._snapshot(run)
            run.cancel_requested.set()
            run.life = "TERMINATING"
            for t in run.tasks:
                if not t.ended:
                    t.life = "TERMINATING"
            self._save(run, before)
            self._cond.notify_all()
        self.executor.cancel(run)
        return {}

    # -- the executor's door (RunReporter) -----------------------------------------------------------
    def mark_running(self, run_id: int, task_key: str | None = None) -> None:
        """PENDING/QUEUED → RUNNING, for the run and its task (or every pending task)."""
        with self._cond:
            run = self._runs[run_id]
            if run.ended or run.cancel_requested.is_set():
                return
            before = self._snapshot(run)
            now = self.clock.now()
            changed = False
            for t in [run.task(task_key)] if task_key else run.tasks:
                if t.life in ("PENDING", "QUEUED"):
                    t.life, t.start_time, t.message = "RUNNING", now, ""
                    changed = True
            started = run.life in ("PENDING", "QUEUED")
            if started:
                run.life, run.message = "RUNNING", ""
            if changed or started:
                self._save(run, before, durable=False)
            self._cond.notify_all()
        if started:
            self._on_change(run)

    def finish(
        self,
        run_id: int,
        result: str,
        *,
        message: str = "",
        output: Any = None,
        task_key: str | None = None,
        error: str | None = None,
        error_trace: str | None = None,
        logs: str | None = None,
    ) -> bool:
        """End the run — or one task (``task_key``), the run ending with its last task — with
        ``result`` (SUCCESS/FAILED/TIMEDOUT/CANCELED, or INTERNAL_ERROR). ``output`` is the
        notebook exit value (non-strings are JSON-encoded) and goes to ``task_key``'s task, by
        default the last. After a cancel request the result is CANCELED. False if already ended."""
        life = "TERMINATED"
        if result == "INTERNAL_ERROR":
            life, result = "INTERNAL_ERROR", "FAILED"
        elif result not in RESULTS:
            raise ValueError(f"unknown result {result!r}; expected one of {RESULTS}")
        with self._cond:
            run = self._runs[run_id]
            carrier = run.task(task_key)
            if run.ended or carrier.ended:
                return False
            if run.cancel_requested.is_set() and result not in ("CANCELED", "TIMEDOUT"):
                result, message = "CANCELED", message or "Run cancelled."
            before = self._snapshot(run)
            now = self.clock.now()
            for t in [carrier] if task_key else [t for t in run.tasks if not t.ended]:
                t.life, t.result, t.message, t.end_time = life, result, message, now
                t.start_time = t.start_time or now
            _attach(carrier, output, error, error_trace, logs)
            ended = all(t.ended for t in run.tasks)
            if ended:
                run.life = "INTERNAL_ERROR" if any(t.life == "INTERNAL_ERROR" for t in run.tasks) else life
                run.result, run.message, run.end_time = _run_result(run.tasks), message, now
            self._save(run, before, durable=False)
            self._cond.notify_all()
        if ended:
            self._on_change(run)
        return True

    # -- restarts -------------------------------------------------------------------------------------
    def resume(self, execute: bool = True) -> list[LocalRun]:
        """Deal, once, with the runs the previous process left active (PENDING, QUEUED,
        RUNNING or TERMINATING in the state file). ``execute``: each goes back to PENDING and to
        the executor again — same run id, task-run ids, token and parameters; the notebook runs
        again from the top (locally the workspace dies with the resolver's process, where a real
        workspace would have kept the run going). Otherwise each ends INTERNAL_ERROR
        (:data:`STOPPED_MESSAGE`). A run whose cancel was requested ends CANCELED either way.
        Returns the runs dealt with."""
        with self._cond:
            runs = [self._runs[i] for i in self._interrupted]
            self._interrupted = []
        for run in runs:
            if run.cancel_requested.is_set() or run.life == "TERMINATING":
                self.finish(run.run_id, "CANCELED", message="Run cancelled.")
            elif not execute:
                self.finish(run.run_id, "INTERNAL_ERROR", message=STOPPED_MESSAGE)
            else:
                with self._cond:
                    before = self._snapshot(run)
                    reset_run(run)
                    self._save(run, before, durable=False)
                    self._cond.notify_all()
                self._start(run)
        return runs

    # -- for tests and the local stack ---------------------------------------------------------------
    def run(self, run_id: int) -> LocalRun:
        """The live record of a job run (read it; change it only through the reporter door)."""
        return self._run(run_id)

    def runs(self) -> list[LocalRun]:
        with self._cond:
            return list(self._runs.values())

    def runs_per_token(self) -> dict[str, int]:
        """Runs started per idempotency token (Databricks guarantees at most one)."""
        with self._cond:
            return dict(self._started)

    def wait(self, run_id: int, timeout: float = 10.0, *, life: tuple[str, ...] | None = None) -> LocalRun:
        """Block until the run ended (or reached one of ``life``); TimeoutError otherwise."""
        with self._cond:
            run = self._run(run_id)

            def done() -> bool:
                return run.life in life if life else run.ended

            if not self._cond.wait_for(done, timeout):
                raise TimeoutError(f"run {run_id} is still {run.life} after {timeout}s")
            return run

    # -- internals ------------------------------------------------------------------------------------
    def _run(self, run_id: int) -> LocalRun:
        with self._cond:
            run = self._runs.get(run_id)
        if run is None:
            raise invalid(f"Run {run_id} does not exist.")
        return run

    def _start(self, run: LocalRun) -> None:
        try:
            self.executor.start(run)
        except Exception as exc:  # the executor could not start it: the run ends at once  # noqa: BLE001
            self.finish(run.run_id, "INTERNAL_ERROR", message=f"Could not start the run: {exc}")

    def _take_id(self) -> int:
        run_id, self._next_id = self._next_id, self._next_id + 1
        return run_id

    def _new_run(
        self, job_id: int, name: str, settings: dict[str, Any], params: dict[str, str], token: str | None
    ) -> LocalRun:
        now = self.clock.now()
        run_id = self._take_id()
        specs = list(settings.get("tasks") or []) or [
            {"task_key": name or "main", "notebook_task": {"notebook_path": f"/local/{name or job_id}"}}
        ]
        tasks = [
            LocalTask(str(s.get("task_key", f"task_{i}")), self._take_id(), dict(s))
            for i, s in enumerate(specs)
        ]
        run = LocalRun(run_id, job_id, name, settings, params, tasks, self, token, start_time=now)
        if self._state is not None:  # on disk, token and all, before run-now answers
            self._state.add_run(run_doc(run), self._next_id)
        self._runs[run_id] = run
        for t in tasks:
            self._tasks[t.run_id] = (run, t)
        if token is not None:
            self._by_token[token] = run_id
            self._started[token] += 1
        self._cond.notify_all()
        return run

    def _load(self, state: WorkspaceState, first_run_id: int) -> None:
        """Every run of the state file, live again; the active ones wait for :meth:`resume`."""
        highest = 0
        for doc in state.runs():
            run = run_from_doc(doc, self)
            self._runs[run.run_id] = run
            for t in run.tasks:
                self._tasks[t.run_id] = (run, t)
            if run.idempotency_token is not None:
                self._by_token[run.idempotency_token] = run.run_id
                self._started[run.idempotency_token] += 1
            if not run.ended:
                self._interrupted.append(run.run_id)
            highest = max(highest, run.run_id, *(t.run_id for t in run.tasks))
        self._next_id = max(first_run_id, state.counter("run_id") or 0, highest + 1)

    def _snapshot(self, run: LocalRun) -> dict[str, Any] | None:
        """The run's document before a change, to undo it if the state file refuses the change."""
        return run_doc(run) if self._state is not None else None

    def _save(self, run: LocalRun, before: dict[str, Any] | None, *, durable: bool = True) -> None:
        """Record a change of ``run`` (under the lock); undone in memory if the write fails.
        ``durable=False`` for what the executor reports: it answers no request, so it need not
        wait for the disk (see :mod:`~lambda_resolver.local.persist`)."""
        if self._state is None:
            return
        try:
            self._state.save_run(run_doc(run), durable=durable)
        except BaseException:
            if before is not None:
                restore_run(run, before)
            raise

    @staticmethod
    def _parameters(job_id: int, declared: list[dict[str, Any]], given: Any) -> dict[str, str]:
        """The run's job parameters: declared defaults overlaid with ``given``, checked as
        Databricks checks them (declared names only, string values, ≤ 10,000 bytes)."""
        given = given or {}
        if not isinstance(given, dict):
            raise invalid("job_parameters must be a map of parameter names to values")
        names = {str(p.get("name")) for p in declared}
        unknown = sorted(n for n in given if n not in names)
        if unknown:
            raise invalid(f"Job {job_id} does not define the job parameters: {', '.join(unknown)}")
        bad = sorted(n for n, v in given.items() if not isinstance(v, str) or not _PARAM_NAME.match(n))
        if bad:
            raise invalid(f"Invalid job parameters (names [A-Za-z0-9_.-], string values): {', '.join(bad)}")
        if len(json.dumps(given).encode()) > MAX_PARAMETER_BYTES:
            raise invalid(f"job_parameters exceed {MAX_PARAMETER_BYTES} bytes")
        values = {str(p["name"]): str(p.get("default", "")) for p in declared}
        values.update(given)
        return values


def _attach(task: LocalTask, output: Any, error: str | None, trace: str | None, logs: str | None) -> None:
    value = exit_value(output)
    if value is not None:
        raw = value.encode()
        task.truncated = len(raw) > MAX_OUTPUT_BYTES
        task.output = raw[:MAX_OUTPUT_BYTES].decode(errors="ignore") if task.truncated else value
    task.error, task.error_trace, task.logs = error, trace, logs


def _run_result(tasks: list[LocalTask]) -> str:
    results = {t.result for t in tasks}
    for result in ("CANCELED", "TIMEDOUT", "FAILED"):
        if result in results:
            return result
    return "SUCCESS"


__all__ = ["MULTI_TASK_OUTPUT", "STOPPED_MESSAGE", "ApiError", "JobsApi"]
