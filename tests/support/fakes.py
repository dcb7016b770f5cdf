"""A fake Databricks launcher that counts runs per idempotency token, as Databricks guarantees."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lambda_resolver.core.errors import LaunchError
from lambda_resolver.core.launcher import Launched, RunStatus, TriggerRequest


@dataclass
class FakeRun:
    run_id: int
    request: TriggerRequest
    life: str = "RUNNING"
    result: str | None = None
    message: str = ""
    output: Any = None
    ended_at: int | None = None
    canceled: bool = False


@dataclass
class FakeLauncher:
    """Starts nothing; records run-now calls, answers runs/get from what tests script."""

    fail_next: list[LaunchError] = field(default_factory=list)
    runs: dict[int, FakeRun] = field(default_factory=dict)
    by_token: dict[str, int] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)  # run-now calls per token, duplicates too
    started: Counter[str] = field(default_factory=Counter)  # runs started per token: must stay ≤ 1
    _ids: Any = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def trigger(self, request: TriggerRequest) -> Launched:
        assert len(request.idempotency_token) <= 64
        with self._lock:
            self.calls[request.idempotency_token] += 1
            if self.fail_next:
                raise self.fail_next.pop(0)
            rid = self.by_token.get(request.idempotency_token)
            if rid is None:
                rid = next(self._ids)
                self.by_token[request.idempotency_token] = rid
                self.runs[rid] = FakeRun(rid, request)
                self.started[request.idempotency_token] += 1
            return Launched(rid, f"https://example.cloud.databricks.com/jobs/runs/{rid}")

    def cancel(self, databricks_run_id: int) -> None:
        with self._lock:
            run = self.runs.get(databricks_run_id)
            if run is not None and run.life != "TERMINATED":
                run.canceled = True
                run.life, run.result, run.message = "TERMINATED", "CANCELED", "canceled by lakehook"

    def get_run(self, databricks_run_id: int) -> RunStatus:
        run = self.runs.get(databricks_run_id)
        if run is None:
            raise LaunchError(f"run {databricks_run_id} does not exist", permanent=True)
        return RunStatus(run.life, run.result, run.message, run.output, None, run.ended_at)

    # -- test helpers ----------------------------------------------------------------------------
    def end(
        self,
        databricks_run_id: int,
        result: str = "SUCCESS",
        *,
        output: Any = None,
        message: str = "",
        at: int | None = None,
    ) -> None:
        run = self.runs[databricks_run_id]
        run.life, run.result, run.output, run.message, run.ended_at = (
            "TERMINATED",
            result,
            output,
            message,
            at,
        )

    def run_for(self, promise_id: str) -> FakeRun:
        return next(r for r in self.runs.values() if r.request.promise_id == promise_id)

    def job_key_of(self, databricks_run_id: int) -> str:
        return self.runs[databricks_run_id].request.job_key

    @property
    def duplicates(self) -> dict[str, int]:
        return {t: n for t, n in self.started.items() if n > 1}
