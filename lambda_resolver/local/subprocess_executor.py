"""The executor of ``lakehook dev``: runs a job's tasks as local processes, as a cluster would.

Each job run gets a thread that starts its tasks in dependency order — parallel where
``depends_on`` allows, at most ``max_parallel`` processes across all runs — each as
``python -m lambda_resolver.local.task_runner <spec.json>`` (see :mod:`task_runner`), and
reports through the run: ``mark_running`` per task, then ``finish`` with SUCCESS and the
notebook exit value, FAILED with the exception (``state_message`` reads
``ZeroDivisionError: division by zero (log: ...)``, ``runs/get-output`` has the error, its
traceback and the log's last 40 lines), TIMEDOUT at the task's or the job's
``timeout_seconds``, or CANCELED. Stopping a task stops its process group (SIGTERM, then
SIGKILL after ``kill_grace_s``).

Files, under ``state_dir/runs/<run_id>/`` (cleared when a run id is used again):
``<task_key>.log`` (stdout and stderr), ``<task_key>.spec.json``, ``<task_key>.result.json``,
``task_values.json``. Not supported locally: task retries (``max_retries``), ``for_each_task``,
``condition_task`` and ``run_job_task`` inside a child job; ``run_if`` follows DESIGN §3 (all six
values). A task that never ran reports FAILED ("upstream failed"), or SUCCESS when excluded,
since the local workspace's results are SUCCESS/FAILED/TIMEDOUT/CANCELED.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from lambda_resolver.local.run_driver import RunDriver, safe_name
from lambda_resolver.local.runs import LocalRun

_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])  # so any interpreter finds the runner


class SubprocessExecutor:
    """Runs bundle jobs' tasks as child processes of this one (an :class:`Executor`)."""

    def __init__(
        self,
        bundle_root: Path,
        state_dir: Path,
        *,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        secrets_file: Path | None = None,
        max_parallel: int = 8,
        kill_grace_s: float = 5.0,
        poll_interval_s: float = 0.02,
    ) -> None:
        self.bundle_root = Path(bundle_root).resolve()
        self.state_dir = Path(state_dir).resolve()
        self.python = python
        self.env = dict(env or {})
        self.secrets_file = Path(secrets_file).resolve() if secrets_file else None
        self.kill_grace_s = kill_grace_s
        self.poll_interval_s = poll_interval_s
        self.slots = threading.Semaphore(max_parallel)
        self._drivers: dict[int, RunDriver] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    # -- the Executor protocol -------------------------------------------------------------------------
    def start(self, run: LocalRun) -> None:
        """Start ``run``'s tasks on a background thread; returns at once."""
        driver = RunDriver(self, run)
        thread = threading.Thread(target=driver.drive, name=f"local-run-{run.run_id}", daemon=True)
        with self._lock:
            self._drivers[run.run_id] = driver
            self._threads[run.run_id] = thread
        thread.start()

    def cancel(self, run: LocalRun) -> None:
        """Stop ``run``: its thread stops the processes and reports CANCELED once they are gone."""
        run.cancel_requested.set()
        with self._lock:
            known = run.run_id in self._drivers
        if not known:
            run.finish("CANCELED", message="Run cancelled.")

    # -- for lakehook dev and tests -------------------------------------------------------------------
    def run_dir(self, run_id: int) -> Path:
        return self.state_dir / "runs" / str(run_id)

    def log_path(self, run_id: int, task_key: str) -> Path:
        """Where the task's stdout and stderr go."""
        return self.run_dir(run_id) / f"{safe_name(task_key)}.log"

    def close(self, timeout: float = 10.0) -> None:
        """Cancel every active run and wait for its processes to be gone (``lakehook dev`` exit)."""
        with self._lock:
            drivers = list(self._drivers.values())
            threads = list(self._threads.values())
        for driver in drivers:
            driver.run.cancel_requested.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def child_env(self, extra_paths: list[str]) -> dict[str, str]:
        """The environment of a task: ours plus ``env``, without what would fake a cluster."""
        env = {**os.environ, **self.env}
        for name in ("LAKEHOOK", "DATABRICKS_RUNTIME_VERSION"):
            env.pop(name, None)  # the handle arrives as a widget or argument, as on Databricks
        paths = [*extra_paths, str(self.bundle_root), *filter(None, [env.get("PYTHONPATH")])]
        if self.python != sys.executable:
            paths.append(_PROJECT_ROOT)  # another interpreter must still find the task runner
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def forget_run(self, run_id: int) -> None:
        """The run ended: drop its driver (the driver calls this last)."""
        with self._lock:
            self._drivers.pop(run_id, None)
            self._threads.pop(run_id, None)
