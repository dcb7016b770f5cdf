"""The Python client for backends: start a flow run or a job-with-promise, read it, wait for it.

::

    client = LakehookClient("https://abc.lambda-url.eu-west-1.on.aws", operator_key=KEY)
    run = client.start_run("nightly", params={"run_date": "2026-11-23"})
    done = client.wait(run["run_id"], timeout_s=900)     # the final run document

Talks to the resolver's operator door over HTTPS (an operator key) — or, on the local stack,
to ``lakehook dev`` on loopback (no key). Depends only on ``requests``; receivers of completion
webhooks verify them with :func:`verify_webhook`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from lambda_resolver.webhooks import WebhookVerificationError
from lambda_resolver.webhooks import verify as verify_webhook

DEFAULT_URL = "http://127.0.0.1:8765"
FINAL_RUN_STATES = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES", "FAILED", "CANCELED", "TIMEDOUT"})


class LakehookClientError(Exception):
    """The resolver refused a request: ``status``, the stable ``code`` and its ``message``."""

    def __init__(self, status: int, code: str, message: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = dict(body or {})


class WaitTimeout(LakehookClientError):
    """The run or promise did not finish within the wait; ``body`` is its last document."""


class LakehookClient:
    """A thin client for the operator door (DESIGN §5)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        operator_key: str | None = None,
        timeout_s: float = 30.0,
        session: Any = None,
    ) -> None:
        self.url = (url or os.environ.get("LAKEHOOK_URL") or DEFAULT_URL).rstrip("/")
        self._key = operator_key if operator_key is not None else os.environ.get("LAKEHOOK_OPERATOR_KEY")
        self._timeout_s = timeout_s
        self._session = session

    def __repr__(self) -> str:
        return f"LakehookClient({self.url!r})"

    # -- flow runs ------------------------------------------------------------------------------
    def start_run(
        self,
        flow: str,
        *,
        params: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        notify_url: str | None = None,
    ) -> dict[str, Any]:
        """Start a run of ``flow``; with ``run_id`` the start is idempotent. Returns the run document.

        ``notify_url`` must match a receiver the operator configured (``lakehook dev``: any loopback
        URL), else a 400 says what to configure; the final run is POSTed there, signed with that
        receiver's own secret — check it with :func:`verify_webhook`."""
        return self.start_run_created(flow, params=params, run_id=run_id, notify_url=notify_url)[0]

    def start_run_created(
        self,
        flow: str,
        *,
        params: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        notify_url: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """As :meth:`start_run`, and whether this call started the run (False: ``run_id`` existed)."""
        body: dict[str, Any] = {"flow": flow, "params": dict(params or {})}
        if run_id is not None:
            body["run_id"] = run_id
        if notify_url is not None:
            body["notify_url"] = notify_url
        status, doc = self._send("POST", "/v1/runs", body)
        return doc, status == 201

    def get_run(self, run_id: str, *, values: bool = True) -> dict[str, Any]:
        """The run document. Values that would take it past the answer limit come back as
        ``"value": null, "value_omitted": true`` (read them with :meth:`get_task`);
        ``values=False`` leaves every value out."""
        query = None if values else {"values": "false"}
        return self._call("GET", f"/v1/runs/{_seg(run_id)}", query=query)

    def get_task(self, run_id: str, task_key: str) -> dict[str, Any]:
        """One task of a run, with its value in full."""
        return self._call("GET", f"/v1/runs/{_seg(run_id)}/tasks/{_seg(task_key)}")

    def list_runs(
        self, *, flow: str | None = None, state: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> list[Any]:
        """One page of run summaries, newest first (:meth:`runs_page` also gives the next cursor)."""
        runs: list[Any] = self.runs_page(flow=flow, state=state, limit=limit, cursor=cursor)["runs"]
        return runs

    def runs_page(
        self, *, flow: str | None = None, state: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """``{"runs": [...], "next_cursor": str | None}``: pass ``next_cursor`` back for the next page."""
        query = {"flow": flow, "state": state, "limit": str(limit), "cursor": cursor}
        return self._call("GET", "/v1/runs", query={k: v for k, v in query.items() if v})

    def task_logs(self, run_id: str, task_key: str, attempt: int | None = None) -> dict[str, Any]:
        """What a task attempt's Databricks run left: state, error, trace and log (the latest
        attempt unless ``attempt``)."""
        query = {"attempt": str(attempt)} if attempt is not None else None
        return self._call("GET", f"/v1/runs/{_seg(run_id)}/tasks/{_seg(task_key)}/logs", query=query)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/runs/{_seg(run_id)}/cancel", {})

    def repair_run(
        self,
        run_id: str,
        *,
        rerun_tasks: Sequence[str] | None = None,
        rerun_all_failed_tasks: bool = False,
        rerun_dependent_tasks: bool = False,
        latest_repair_id: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Repair a run that ended, as Databricks' "Repair run": rerun what did not succeed (or
        ``rerun_tasks``) in the same run. Returns the run document. After the first repair,
        ``latest_repair_id`` must be the run document's own (a stale one is a 409)."""
        body: dict[str, Any] = {
            "rerun_all_failed_tasks": rerun_all_failed_tasks,
            "rerun_dependent_tasks": rerun_dependent_tasks,
            "params": dict(params or {}),
        }
        if rerun_tasks:
            body["rerun_tasks"] = list(rerun_tasks)
        if latest_repair_id is not None:
            body["latest_repair_id"] = latest_repair_id
        return self._call("POST", f"/v1/runs/{_seg(run_id)}/repair", body)

    def wait(self, run_id: str, *, timeout_s: float = 3600.0, poll_s: float = 2.0) -> dict[str, Any]:
        """Block until the run is final and return its document; WaitTimeout after ``timeout_s``."""
        return self._wait(
            lambda: self.get_run(run_id),
            lambda d: d.get("state") in FINAL_RUN_STATES,
            f"run {run_id}",
            timeout_s,
            poll_s,
        )

    # -- standalone promises ----------------------------------------------------------------------
    def create_promise(
        self,
        promise_id: str,
        *,
        timeout_s: int | None = None,
        job_id: int | None = None,
        job_key: str | None = None,
        params: Mapping[str, Any] | None = None,
        notify_url: str | None = None,
    ) -> dict[str, Any]:
        """Create a promise; with a job, the resolver starts it with the promise's handle.
        ``notify_url`` as in :meth:`start_run`."""
        body: dict[str, Any] = {"id": promise_id}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        if job_id is not None or job_key is not None:
            job: dict[str, Any] = {"params": dict(params or {})}  # non-strings travel as JSON
            job.update({"job_id": job_id} if job_id is not None else {"job_key": job_key})
            body["job"] = job
        if notify_url is not None:
            body["notify_url"] = notify_url
        return self._call("POST", "/v1/promises", body)

    def get_promise(self, promise_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/promises/{_seg(promise_id)}")

    def resolve(self, promise_id: str, value: Any = None) -> dict[str, Any]:
        """Settle any promise as an operator (a human in the loop, an approval)."""
        return self._call("POST", f"/v1/promises/{_seg(promise_id)}/resolve", {"value": value})

    def reject(self, promise_id: str, message: str, *, error_type: str = "Rejected") -> dict[str, Any]:
        body = {"error": {"type": error_type, "message": message}}
        return self._call("POST", f"/v1/promises/{_seg(promise_id)}/reject", body)

    def wait_promise(
        self, promise_id: str, *, timeout_s: float = 3600.0, poll_s: float = 2.0
    ) -> dict[str, Any]:
        return self._wait(
            lambda: self.get_promise(promise_id),
            lambda d: d.get("state") != "PENDING",
            f"promise {promise_id}",
            timeout_s,
            poll_s,
        )

    # -- flows --------------------------------------------------------------------------------------
    def publish(self, manifest: Mapping[str, Any], *, production: bool = False) -> dict[str, Any]:
        """Publish a compiled flow; ``production``: its target is ``mode: production``, so a first
        schedule starts active (otherwise paused, as Databricks pauses development deployments)."""
        query = {"production": "true"} if production else None
        return self._call("POST", "/v1/flows", dict(manifest), query=query)

    def get_flow(self, name: str, version: int | None = None) -> dict[str, Any]:
        """A published flow's manifest (the latest version unless ``version``)."""
        query = {"version": str(version)} if version is not None else None
        return self._call("GET", f"/v1/flows/{_seg(name)}", query=query)

    def list_flows(self) -> list[Any]:
        flows: list[Any] = self._call("GET", "/v1/flows").get("flows", [])
        return flows

    # -- schedules ----------------------------------------------------------------------------------
    def schedule(self, flow: str) -> dict[str, Any]:
        """``{"flow", "schedule", "active", "next_at"}`` of a published flow."""
        return self._call("GET", f"/v1/flows/{_seg(flow)}/schedule")

    def schedules(self) -> list[dict[str, Any]]:
        """Every flow's schedule document, by flow."""
        found: list[dict[str, Any]] = self._call("GET", "/v1/schedules").get("schedules", [])
        return found

    def pause_schedule(self, flow: str) -> dict[str, Any]:
        """Stop firing ``flow``'s schedule; returns its schedule document."""
        return self._call("POST", f"/v1/flows/{_seg(flow)}/schedule/pause", {})

    def resume_schedule(self, flow: str) -> dict[str, Any]:
        """Fire ``flow``'s schedule again from its next slot; returns its schedule document."""
        return self._call("POST", f"/v1/flows/{_seg(flow)}/schedule/resume", {})

    # -- plumbing -----------------------------------------------------------------------------------
    def _wait(self, read: Any, done: Any, what: str, timeout_s: float, poll_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        delay = min(0.2, poll_s)
        while True:
            doc: dict[str, Any] = read()
            if done(doc):
                return doc
            if time.monotonic() + delay > deadline:
                raise WaitTimeout(
                    408, "wait_timeout", f"{what} is still {doc.get('state')} after {timeout_s:g} s", doc
                )
            time.sleep(delay)
            delay = min(poll_s, delay * 2)

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return self._send(method, path, body, query=query)[1]

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        import requests

        headers = {"Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        session = self._session or requests
        try:
            answer = session.request(
                method,
                self.url + path,
                json=body if method != "GET" else None,
                params=query,
                headers=headers,
                timeout=self._timeout_s,
            )
        except requests.RequestException as exc:
            raise LakehookClientError(
                0,
                "unreachable",
                f"cannot reach the resolver at {self.url}: "
                f"{type(exc).__name__}; is `lakehook dev` running there? Point to another with --url "
                "or LAKEHOOK_URL",
            ) from None
        try:
            payload: dict[str, Any] = answer.json()
        except ValueError:
            payload = {}
        if answer.status_code >= 400:
            raw = payload.get("error")
            err: dict[str, Any] = raw if isinstance(raw, dict) else {}
            code, message = str(err.get("code", "http_error")), str(err.get("message", answer.reason))
            raise LakehookClientError(answer.status_code, code, message, payload)
        return answer.status_code, payload


def _seg(value: str) -> str:
    return quote(value, safe="")


__all__ = [
    "FINAL_RUN_STATES",
    "LakehookClient",
    "LakehookClientError",
    "WaitTimeout",
    "WebhookVerificationError",
    "verify_webhook",
]
