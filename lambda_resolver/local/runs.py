"""Runs of the local workspace: the records, their Databricks states, and their API shapes.

A run mirrors a Databricks job run: ``QUEUED/PENDING → RUNNING → TERMINATING → TERMINATED``
with a result (SUCCESS/FAILED/TIMEDOUT/CANCELED), one task run per task of the job (each with
its own id, distinct from the job run id), and the notebook exit value stored on the task
run, as ``runs/get-output`` returns it. The workspace owns these records and changes them
under its lock; executors change them only through the :class:`RunReporter` door.
:func:`run_doc` and :func:`run_from_doc` turn a run into a JSON document and back (the
workspace's state file keeps runs that way).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

ACTIVE = ("QUEUED", "PENDING", "RUNNING", "TERMINATING")
ENDED = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
RESULTS = ("SUCCESS", "FAILED", "TIMEDOUT", "CANCELED")
MAX_OUTPUT_BYTES = 5 * 1024 * 1024  # runs/get-output returns the first 5 MB of the exit value

# result → (termination_details.code, .type) of the Jobs API 2.2 ``status`` object. Databricks
# has no timeout code: a run stopped at its ``timeout_seconds`` ends CANCELED (by the platform).
_TERMINATION = {
    "SUCCESS": ("SUCCESS", "SUCCESS"),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "TIMEDOUT": ("CANCELED", "CLIENT_ERROR"),
    "CANCELED": ("USER_CANCELED", "CLIENT_ERROR"),
}
_MESSAGES = {
    "PENDING": "Waiting for the local executor",
    "RUNNING": "In run",
    "TERMINATING": "Run cancellation requested",
}


class RunReporter(Protocol):
    """How an executor tells the workspace what its run did (the workspace implements it)."""

    def mark_running(self, run_id: int, task_key: str | None = None) -> None:
        """The run (or one task of it) started executing."""
        ...

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
        """The run (or one task) ended with ``result``; ``output`` is the notebook exit value."""
        ...


@dataclass
class LocalTask:
    """One task run of a job run. ``output`` is the exit value as Databricks stores it: a string."""

    task_key: str
    run_id: int  # the task run id: what runs/get-output takes
    spec: dict[str, Any]
    life: str = "PENDING"
    result: str | None = None
    message: str = ""
    start_time: int = 0
    end_time: int = 0
    output: str | None = None
    truncated: bool = False
    error: str | None = None
    error_trace: str | None = None
    logs: str | None = None

    @property
    def ended(self) -> bool:
        return self.life in ENDED


@dataclass
class LocalRun:
    """A job run. Executors read it and report through :meth:`mark_running` and :meth:`finish`;
    ``job_parameters`` are the job's defaults overlaid with the run-now values (the
    ``lakehook`` callback handle among them), as a notebook reads them with widgets."""

    run_id: int
    job_id: int
    job_name: str
    job_settings: dict[str, Any]
    job_parameters: dict[str, str]
    tasks: list[LocalTask]
    reporter: RunReporter = field(repr=False, compare=False)
    idempotency_token: str | None = None
    start_time: int = 0
    end_time: int = 0
    life: str = "PENDING"
    result: str | None = None
    message: str = ""
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def ended(self) -> bool:
        return self.life in ENDED

    def task(self, task_key: str | None = None) -> LocalTask:
        """The task named ``task_key``; by default the last one (a single-task job's only task)."""
        if task_key is None:
            return self.tasks[-1]
        for t in self.tasks:
            if t.task_key == task_key:
                return t
        raise KeyError(f"run {self.run_id} has no task '{task_key}'")

    def mark_running(self, task_key: str | None = None) -> None:
        """Report that the run (or one of its tasks) started executing."""
        self.reporter.mark_running(self.run_id, task_key)

    def finish(self, result: str, **kw: Any) -> bool:
        """Report the end of the run (or of ``task_key=``); see :meth:`RunReporter.finish`."""
        return self.reporter.finish(self.run_id, result, **kw)


def state_of(life: str, result: str | None, message: str) -> dict[str, Any]:
    """The legacy ``state`` object: life_cycle_state, result_state once ended, state_message."""
    state: dict[str, Any] = {
        "life_cycle_state": life,
        "state_message": message or _MESSAGES.get(life, ""),
        "user_cancelled_or_timedout": result in ("CANCELED", "TIMEDOUT"),
    }
    if result is not None:
        state["result_state"] = result
    return state


def status_of(life: str, result: str | None, message: str) -> dict[str, Any]:
    """The Jobs API 2.2 ``status`` object: state, and termination_details once ended."""
    if life in ENDED:
        if life == "INTERNAL_ERROR":
            code, kind = "INTERNAL_ERROR", "INTERNAL_ERROR"
        elif life == "SKIPPED":
            code, kind = "SKIPPED", "SUCCESS"
        else:
            code, kind = _TERMINATION.get(result or "FAILED", _TERMINATION["FAILED"])
        details = {"code": code, "type": kind, "message": message}
        return {"state": "TERMINATED", "termination_details": details}
    return {"state": life}


def task_to_api(t: LocalTask, run: LocalRun, url: str) -> dict[str, Any]:
    """A task run inside ``runs/get``: its own run id, state and status, and its settings."""
    body: dict[str, Any] = {k: v for k, v in t.spec.items() if k not in ("task_key", "depends_on", "run_id")}
    body.update(
        task_key=t.task_key,
        run_id=t.run_id,
        job_run_id=run.run_id,
        attempt_number=0,
        state=state_of(t.life, t.result, t.message),
        status=status_of(t.life, t.result, t.message),
        start_time=t.start_time,
        end_time=t.end_time,
        setup_duration=0,
        execution_duration=(t.end_time - t.start_time) if t.end_time and t.start_time else 0,
        cleanup_duration=0,
        run_page_url=f"{url}/jobs/{run.job_id}/runs/{t.run_id}",
    )
    if t.spec.get("depends_on"):
        body["depends_on"] = t.spec["depends_on"]
    return body


def run_to_api(run: LocalRun, url: str, declared: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``runs/get`` document, with both the legacy ``state`` and the 2.2 ``status``."""
    names = [str(p["name"]) for p in declared] + [
        n for n in run.job_parameters if n not in {str(p["name"]) for p in declared}
    ]
    defaults = {str(p["name"]): str(p.get("default", "")) for p in declared}
    return {
        "job_id": run.job_id,
        "run_id": run.run_id,
        "number_in_job": run.run_id,
        "original_attempt_run_id": run.run_id,
        "job_run_id": run.run_id,
        "run_name": run.job_name,
        "creator_user_name": "local@lakehook",
        "run_type": "JOB_RUN",
        "trigger": "ONE_TIME",
        "attempt_number": 0,
        "state": state_of(run.life, run.result, run.message),
        "status": status_of(run.life, run.result, run.message),
        "start_time": run.start_time,
        "end_time": run.end_time,
        "setup_duration": 0,
        "execution_duration": 0,
        "cleanup_duration": 0,
        "run_duration": (run.end_time - run.start_time) if run.end_time else 0,
        "run_page_url": f"{url}/jobs/{run.job_id}/runs/{run.run_id}",
        "job_parameters": [
            {"name": n, "default": defaults.get(n, ""), "value": run.job_parameters.get(n, "")} for n in names
        ],
        "tasks": [task_to_api(t, run, url) for t in run.tasks],
    }


def output_to_api(t: LocalTask, run: LocalRun, url: str) -> dict[str, Any]:
    """The ``runs/get-output`` document of one task run."""
    metadata = task_to_api(t, run, url)
    metadata.update(job_id=run.job_id, run_name=run.job_name)
    body: dict[str, Any] = {"metadata": metadata}
    if t.output is not None:
        body["notebook_output"] = {"result": t.output, "truncated": t.truncated}
    elif t.ended and "notebook_task" in t.spec:
        body["notebook_output"] = {}
    if t.error is not None:
        body["error"] = t.error
    if t.error_trace is not None:
        body["error_trace"] = t.error_trace
    if t.logs is not None:
        body["logs"] = t.logs
        body["logs_truncated"] = False
    return body


# -- documents (the state file) ----------------------------------------------------------------------
_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(LocalTask))
_TASK_STATE = (
    "life",
    "result",
    "message",
    "start_time",
    "end_time",
    "output",
    "truncated",
    "error",
    "error_trace",
    "logs",
)
_RUN_STATE = ("life", "result", "message", "start_time", "end_time")


def run_doc(run: LocalRun) -> dict[str, Any]:
    """The run as a JSON document: everything but its reporter (a copy; the run is not shared)."""
    return {
        "run_id": run.run_id,
        "job_id": run.job_id,
        "job_name": run.job_name,
        "job_settings": copy.deepcopy(run.job_settings),
        "job_parameters": dict(run.job_parameters),
        "idempotency_token": run.idempotency_token,
        **{name: getattr(run, name) for name in _RUN_STATE},
        "cancel_requested": run.cancel_requested.is_set(),
        "tasks": [dataclasses.asdict(t) for t in run.tasks],
    }


def run_from_doc(doc: Mapping[str, Any], reporter: RunReporter) -> LocalRun:
    """The run a :func:`run_doc` document describes, reporting to ``reporter``."""
    tasks = [LocalTask(**{k: v for k, v in t.items() if k in _TASK_FIELDS}) for t in doc["tasks"]]
    run = LocalRun(
        int(doc["run_id"]),
        int(doc["job_id"]),
        str(doc["job_name"]),
        dict(doc["job_settings"]),
        dict(doc["job_parameters"]),
        tasks,
        reporter,
        doc.get("idempotency_token"),
    )
    restore_run(run, doc)
    return run


def restore_run(run: LocalRun, doc: Mapping[str, Any]) -> None:
    """Put back the states a :func:`run_doc` document recorded, in place (task objects kept)."""
    for name in _RUN_STATE:
        setattr(run, name, doc[name])
    if doc.get("cancel_requested"):
        run.cancel_requested.set()
    else:
        run.cancel_requested.clear()
    for task, saved in zip(run.tasks, doc["tasks"], strict=True):
        for name in _TASK_STATE:
            setattr(task, name, saved[name])


def reset_run(run: LocalRun) -> None:
    """Back to PENDING, every task too, results and outputs cleared: ready to execute again
    (same run id, task-run ids, token and parameters; ``start_time`` is still the trigger's)."""
    run.life, run.result, run.message, run.end_time = "PENDING", None, "", 0
    run.cancel_requested.clear()
    blank = LocalTask("", 0, {})
    for task in run.tasks:
        for name in _TASK_STATE:
            setattr(task, name, getattr(blank, name))
