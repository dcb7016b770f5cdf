"""Logs and metrics for the Lambda: powertools Logger (JSON) and Metrics (EMF).

The engine reports what it does through ``Context.event``; :class:`Telemetry` turns those events
into metrics (settled, triggered, duplicates, conflicts, reconciled, callback-to-trigger latency)
and into log lines carrying the correlation ids (flow run, task, promise, Databricks run). No
token, handle or credential is ever passed to an event, so none reaches a log line.
"""

from __future__ import annotations

import time
from typing import Any

_METRICS = {
    "promise_settled": "Settled",
    "task_triggered": "Triggered",
    "settle_duplicate": "Duplicates",
    "settle_conflict": "Conflicts",
    "run_finished": "RunsFinished",
    "notified": "Notified",
    "notify_gave_up": "NotifyGaveUp",
}
_CORRELATION = ("run_id", "task_key", "promise_id", "databricks_run_id", "flow", "attempt", "state")


class Telemetry:
    """The engine's event hook on AWS. ``start_request()`` marks when a request began, so the
    trigger it causes is measured from there (callback-to-trigger latency)."""

    def __init__(self, logger: Any, metrics: Any) -> None:
        self.logger = logger
        self.metrics = metrics
        self._request_started: float | None = None

    def start_request(self) -> None:
        self._request_started = time.perf_counter()

    def __call__(self, name: str, fields: dict[str, Any]) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        correlation = {k: fields[k] for k in _CORRELATION if fields.get(k) is not None}
        self.logger.info(name, extra=correlation)
        metric = _METRICS.get(name)
        if metric is not None:
            self.metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        if name == "reconciled":
            done = sum(v for k, v in fields.items() if k not in ("stale", "checked") and isinstance(v, int))
            self.metrics.add_metric(name="Reconciled", unit=MetricUnit.Count, value=done)
        if name == "task_triggered" and self._request_started is not None:
            ms = (time.perf_counter() - self._request_started) * 1000
            self.metrics.add_metric(name="CallbackToTriggerLatency", unit=MetricUnit.Milliseconds, value=ms)


def build_telemetry() -> Telemetry:
    from aws_lambda_powertools import Logger, Metrics

    return Telemetry(Logger(service="lakehook"), Metrics(namespace="lakehook", service="lakehook"))
