"""Standalone promises: the single-job pattern. A backend creates a promise with a job, the
resolver starts the job with the promise's handle, the notebook's ``notify_done`` settles it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lambda_resolver.core import notifications
from lambda_resolver.core.context import Context, log
from lambda_resolver.core.errors import BadRequest, LaunchError, StoreConflict
from lambda_resolver.core.ids import check_id, idempotency_token, looks_like_task_promise, new_nonce
from lambda_resolver.core.models import Promise, PromiseState

MAX_TIMEOUT_S = 7 * 24 * 3600


class Standalone:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(
        self,
        promise_id: str,
        *,
        timeout_s: int | None = None,
        job: Mapping[str, Any] | None = None,
        notify_url: str | None = None,
    ) -> tuple[Promise, bool]:
        """Create a promise (idempotent by id) and, with ``job``, start that job for it.

        ``job`` is ``{"job_id": 123, "params": {...}}``; job keys are mapped to ids by the edge.
        """
        ctx = self.ctx
        check_id(promise_id, "promise id")
        if looks_like_task_promise(promise_id):
            # Task attempts own <run>.<task>.<attempt>: a standalone promise of that shape would be
            # taken for the attempt by its run (or answer with the attempt's value).
            raise BadRequest(
                f"promise id '{promise_id}' has the shape <run>.<task>.<number>, which is reserved "
                "for the attempts of flow tasks; choose another id (e.g. use ':' or '-' before the number)"
            )
        timeout_s = timeout_s or ctx.settings.default_task_timeout_s
        if not 1 <= timeout_s <= MAX_TIMEOUT_S:
            raise BadRequest(f"timeout_s must be between 1 and {MAX_TIMEOUT_S} seconds")
        job_doc = _job_doc(job) if job is not None else None
        now = ctx.now()
        timeout_at = now + timeout_s * 1000
        p = Promise(
            id=promise_id,
            state=PromiseState.PENDING,
            created_at=now,
            timeout_at=timeout_at,
            job=job_doc,
            notify_url=notify_url,
            # With a job, look again soon in case the start below is lost; without, at the deadline.
            due_at=now + ctx.settings.stuck_claim_ms if job_doc else timeout_at,
            nonce=new_nonce(),
        )
        stored, created = ctx.writes.create_promise(p)
        if created and job_doc is not None:
            stored = self.launch(stored)
        return stored, created

    def launch(self, p: Promise) -> Promise:
        """Start the promise's job with its handle. Safe to repeat: same idempotency token."""
        from lambda_resolver.core.launcher import TriggerRequest  # promises with a job only
        from notebook_lib.handle import encode_handle

        ctx = self.ctx
        assert p.job is not None
        params = {str(k): str(v) for k, v in (p.job.get("params") or {}).items()}
        params["lakehook"] = encode_handle(ctx.settings.callback_url, p.id, ctx.signer.token(p.id, p.nonce))
        job_id = int(p.job["job_id"])
        request = TriggerRequest(
            job_id=job_id,
            job_key=str(p.job.get("job_key") or job_id),
            parameters=params,
            idempotency_token=idempotency_token(p.id),
            promise_id=p.id,
        )
        try:
            launched = ctx.launcher.trigger(request)
        except LaunchError as exc:
            if not exc.permanent:
                log.warning("run-now for promise %s failed, will retry: %s", p.id, exc.message)
                return p
            error = {"type": "LaunchError", "message": f"job {job_id} could not start: {exc.message}"}
            now = ctx.now()
            changes = {"error": error, "due_at": self.due_after_settle(p, now)}
            try:
                return ctx.writes.settle_promise(
                    p.id, PromiseState.REJECTED, changes, now=now, deadline=False
                )
            except StoreConflict as conflict:
                return conflict.current  # type: ignore[no-any-return]
        run_fields = {"databricks_run_id": launched.databricks_run_id, "run_page_url": launched.run_page_url}
        due = min(ctx.now() + ctx.settings.check_interval_ms, p.timeout_at)
        try:
            return ctx.writes.set_promise_fields(
                p.id, {**run_fields, "due_at": due}, while_in=PromiseState.PENDING
            )
        except StoreConflict:
            # Settled while run-now was in flight (a fast notebook, or a cancel): keep its outcome.
            after = ctx.writes.set_promise_fields(p.id, run_fields, while_in=None)
            if after.state in (PromiseState.REJECTED_CANCELED, PromiseState.REJECTED_TIMEDOUT):
                ctx.launcher.cancel(launched.databricks_run_id)
            return after

    def due_after_settle(self, p: Promise, now: int) -> int | None:
        """A settled standalone promise with a ``notify_url`` stays due until it is delivered; a
        settled iteration's try until its loop has counted it (``for_each.after_iteration``)."""
        if p.iteration is not None:
            return now + self.ctx.settings.propagate_grace_ms
        if p.run_id is None and p.notify_url:
            return now
        return None

    def after_settle(self, p: Promise) -> None:
        if p.databricks_run_id is not None and p.state in (
            PromiseState.REJECTED_CANCELED,
            PromiseState.REJECTED_TIMEDOUT,
        ):
            try:
                self.ctx.launcher.cancel(p.databricks_run_id)
            except LaunchError as exc:
                log.warning("could not cancel Databricks run %s: %s", p.databricks_run_id, exc.message)
        self.ctx.event("promise_finished", {"promise_id": p.id, "state": p.state.value})
        if p.run_id is None:
            notifications.announce(self.ctx, "promise", p)


def _job_doc(job: Mapping[str, Any]) -> dict[str, Any]:
    job_id = job.get("job_id")
    if isinstance(job_id, bool) or not isinstance(job_id, (int, str)) or not str(job_id).isdigit():
        raise BadRequest("job.job_id must be a Databricks job id (a positive integer)")
    params = job.get("params") or {}
    if not isinstance(params, Mapping):
        raise BadRequest("job.params must be an object of job parameter names to values")
    if "lakehook" in params:
        raise BadRequest("job.params must not set 'lakehook': the resolver fills it with the handle")
    # Job parameters are strings: anything else travels as JSON, as flow parameters do.
    values = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    doc: dict[str, Any] = {"job_id": int(job_id), "params": values}
    if job.get("job_key"):
        doc["job_key"] = str(job["job_key"])
    return doc
