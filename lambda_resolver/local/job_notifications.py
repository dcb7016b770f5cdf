"""Job notifications the local workspace sends, as a Databricks notification destination does.

When a job's settings list destinations under ``webhook_notifications.on_start``,
``on_success`` or ``on_failure`` and the workspace has a target configured, a run's start
and end POST the Databricks payload there — no signature, no result state, HTTP Basic auth:
``{"event_type": "jobs.on_success", "workspace_id": ..., "run": {"run_id": ...},
"job": {"job_id": ..., "name": ...}}``. Delivery happens on a thread, with a few retries.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from lambda_resolver.local.runs import LocalRun

log = logging.getLogger("lakehook.local")


@dataclass(frozen=True)
class WebhookTarget:
    """Where notifications go. ``ids_as_strings`` sends ids as strings (Databricks does both)."""

    url: str
    username: str | None = None
    password: str | None = None
    ids_as_strings: bool = False
    attempts: int = 3


def event_for(run: LocalRun) -> str | None:
    """The notification a run's current state triggers, honouring ``notification_settings``."""
    settings = run.job_settings.get("notification_settings") or {}
    if run.life == "RUNNING":
        return "on_start"
    if run.life == "SKIPPED":
        return None if settings.get("no_alert_for_skipped_runs") else "on_failure"
    if not run.ended:
        return None
    if run.result == "SUCCESS":
        return "on_success"
    if run.result == "CANCELED" and settings.get("no_alert_for_canceled_runs"):
        return None
    return "on_failure"


class Webhooks:
    """Sends job notifications for the workspace; ``deliveries`` records each attempt's outcome."""

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self.target: WebhookTarget | None = None
        self.deliveries: list[dict[str, Any]] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def notify(self, run: LocalRun) -> None:
        """Send the notification ``run``'s state calls for, if its job subscribed to it."""
        event = event_for(run)
        target = self.target
        hooks = (run.job_settings.get("webhook_notifications") or {}).get(event or "")
        if event is None or target is None or not hooks:
            return
        ident: Any = str if target.ids_as_strings else int
        payload = {
            "event_type": f"jobs.{event}",
            "workspace_id": ident(self.workspace_id),
            "run": {"run_id": ident(run.run_id)},
            "job": {"job_id": ident(run.job_id), "name": run.job_name},
        }
        t = threading.Thread(target=self._deliver, args=(target, payload), daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait for the deliveries in flight (tests)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for t in threads:
            t.join(timeout)

    def _deliver(self, target: WebhookTarget, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "lakehook-local-workspace"}
        if target.username is not None:
            pair = f"{target.username}:{target.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        status: int | str = "unsent"
        for attempt in range(target.attempts):
            # The URL is the operator's configured destination (http or https).
            request = urllib.request.Request(target.url, data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
                    status = int(resp.status)
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError as exc:
                status = f"error: {type(exc).__name__}"
            if isinstance(status, int) and status < 500:
                break
            time.sleep(0.2 * (attempt + 1))
        with self._lock:
            self.deliveries.append({"payload": payload, "status": status})
        if not (isinstance(status, int) and status < 300):
            log.warning("webhook %s for run %s: %s", payload["event_type"], payload["run"]["run_id"], status)
