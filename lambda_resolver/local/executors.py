"""Executors: what actually runs a local job run.

The workspace hands each new run to its executor (``start``, non-blocking) and forwards
cancel requests (``cancel``). The executor reports back through the run — ``run.mark_running()``
then ``run.finish(result, output=..., message=...)`` — and the workspace turns that into the
Databricks states that ``runs/get`` and ``runs/get-output`` answer. Tests use the two here;
the local stack adds one that runs bundle notebooks as subprocesses.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lambda_resolver.local.runs import LocalRun

log = logging.getLogger("lakehook.local")


class Executor(Protocol):
    def start(self, run: LocalRun) -> None:
        """Begin executing ``run`` and return at once; report through ``run``."""
        ...

    def cancel(self, run: LocalRun) -> None:
        """Stop ``run``; report it ended (CANCELED) once it has stopped."""
        ...


@runtime_checkable
class LogFiles(Protocol):
    """An executor that writes each task run's output to a file (``runs/get-output`` reads it)."""

    def log_path(self, run_id: int, task_key: str) -> Path:
        """Where the task's stdout and stderr go."""
        ...


MAX_LOG_BYTES = 5 * 1024 * 1024  # as runs/get-output: at most 5 MB of logs (here, the last 5 MB)


def read_log(path: Path) -> tuple[str, bool] | None:
    """The log's text (its last :data:`MAX_LOG_BYTES`) and whether it was cut; None if absent."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - MAX_LOG_BYTES))
            data = f.read()
    except FileNotFoundError:
        return None
    return data.decode(errors="replace").rstrip("\n"), size > MAX_LOG_BYTES  # as the tail reads


class ManualExecutor:
    """Marks every run RUNNING and leaves it there: the test ends it with ``workspace.finish``.
    A cancel ends the run CANCELED at once."""

    def __init__(self) -> None:
        self.started: list[LocalRun] = []

    def start(self, run: LocalRun) -> None:
        self.started.append(run)
        run.mark_running()

    def cancel(self, run: LocalRun) -> None:
        run.finish("CANCELED", message="Run cancelled.")


class CallbackExecutor:
    """Runs ``fn(run)`` in a thread, as a notebook would run: ``fn`` reads
    ``run.job_parameters`` (the ``lakehook`` handle among them) and may call ``run.finish``
    itself. Otherwise its return value is the exit value (SUCCESS) and an exception ends the run
    FAILED with the exception as the run output's ``error``. A cancel ends the run CANCELED at
    once and sets ``run.cancel_requested``; a later finish from ``fn`` is ignored."""

    def __init__(self, fn: Callable[[LocalRun], Any]) -> None:
        self.fn = fn
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, run: LocalRun) -> None:
        t = threading.Thread(target=self._run, args=(run,), name=f"local-run-{run.run_id}", daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def cancel(self, run: LocalRun) -> None:
        run.cancel_requested.set()
        run.finish("CANCELED", message="Run cancelled.")

    def join(self, timeout: float = 10.0) -> None:
        """Wait for every callback started so far (tests: before asserting on the results)."""
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)

    def _run(self, run: LocalRun) -> None:
        run.mark_running()
        try:
            value = self.fn(run)
        except Exception as exc:  # a notebook that raised: the run failed  # noqa: BLE001
            message = f"{type(exc).__name__}: {exc}"
            run.finish("FAILED", message="Workload failed, see run output for details", error=message)
            return
        if not run.ended:
            run.finish("SUCCESS", output=value)


def exit_value(output: Any) -> str | None:
    """The string a notebook passes to ``dbutils.notebook.exit``: strings stay as they are,
    anything else is JSON-encoded (what a notebook does with ``json.dumps``)."""
    if output is None or isinstance(output, str):
        return output
    return json.dumps(output, separators=(",", ":"))
