"""A ``run_job_task``: the resolver starts a Databricks run of the job for each attempt.

The run-now carries the attempt's callback handle in the ``lakehook`` job parameter and an
idempotency token derived from the attempt's promise id, so a re-drive after a crash gets the
run the first launch started instead of a second one (invariant 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambda_resolver.core.context import log
from lambda_resolver.core.errors import LaunchError
from lambda_resolver.core.ids import idempotency_token
from lambda_resolver.core.launcher import TriggerRequest
from lambda_resolver.core.manifest import TaskKind, TaskSpec
from lambda_resolver.core.models import JSON, Promise, PromiseState, Run
from lambda_resolver.core.substitution import ReferenceResolver
from notebook_lib.handle import encode_handle

if TYPE_CHECKING:
    from lambda_resolver.core.advance import Advancer, Next
    from lambda_resolver.core.kinds import Attempt
    from lambda_resolver.core.manifest import FlowManifest
    from lambda_resolver.core.models import Task


class NotLaunchable(Exception):
    """The attempt cannot start (no job id, a reference that does not resolve)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class RunJob:
    name = TaskKind.JOB
    needs_job = True
    needs_job_id = True
    label = "job"
    waits_outside = False
    decision = False
    finishes_with_settle = True

    def start(self, adv: Advancer, a: Attempt) -> Next:
        ctx, spec, t, p = adv.ctx, a.spec, a.task, a.promise
        try:
            request = trigger_request(adv, a.run, a.manifest, spec, p)
        except NotLaunchable as exc:
            error = adv.error(exc.kind, exc.message, retryable=False)
            return adv.settle_self(spec, t, PromiseState.REJECTED, error=error)
        try:
            launched = ctx.launcher.trigger(request)
        except LaunchError as exc:
            if exc.permanent:  # Databricks refused the request as wrong: asking again cannot help
                msg = f"job '{request.job_key}' (id {request.job_id}) could not start: {exc.message}"
                error = adv.error("LaunchError", msg, retryable=False)
                return adv.settle_self(spec, t, PromiseState.REJECTED, error=error)
            log.warning("run-now for %s failed, the reconciler will retry: %s", p.id, exc.message)
            return []
        ctx.event(
            "task_triggered",
            {
                "run_id": t.run_id,
                "task_key": t.key,
                "promise_id": p.id,
                "databricks_run_id": launched.databricks_run_id,
            },
        )
        return adv.started(t, p, launched.databricks_run_id, launched.run_page_url)

    def before_finish(self, adv: Advancer, a: Attempt) -> Promise:
        """An attempt still TRIGGERING was canceled or timed out: its run-now may have started a run
        whose id was never recorded (a crash between the two). Ask again with the same idempotency
        token — Databricks answers with that run if it exists, at worst it starts one — and cancel
        it, so nothing keeps running (invariant 5) and there is still one run per token."""
        p = a.promise
        if p.databricks_run_id is not None or p.state not in (
            PromiseState.REJECTED_CANCELED,
            PromiseState.REJECTED_TIMEDOUT,
        ):
            return p
        try:
            launched = adv.ctx.launcher.trigger(trigger_request(adv, a.run, a.manifest, a.spec, p))
        except NotLaunchable:
            return p  # it could never have started
        except LaunchError as exc:
            log.warning("could not look for a run of %s to cancel: %s", p.id, exc.message)
            return p
        adv.cancel_databricks(launched.databricks_run_id)
        fields = {"databricks_run_id": launched.databricks_run_id, "run_page_url": launched.run_page_url}
        return adv.ctx.writes.set_promise_fields(p.id, fields, while_in=None)

    def outcome(self, value: JSON) -> str | None:
        return None

    def after_finish(self, adv: Advancer, spec: TaskSpec, t: Task, p: Promise) -> None:
        return None


def trigger_request(
    adv: Advancer, run: Run, manifest: FlowManifest, spec: TaskSpec, p: Promise
) -> TriggerRequest:
    """The run-now of an attempt: the job, its substituted parameters, the handle, the token."""
    ctx = adv.ctx
    assert spec.job_key is not None
    job = manifest.job(spec.job_key)
    if job.job_id is None:
        msg = f"job '{job.key}' has no Databricks job id: deploy the bundle and run `lakehook publish`"
        raise NotLaunchable("JobNotPublished", msg)
    resolver = ReferenceResolver(ctx.store, run, manifest)
    try:
        params = {k: resolver.substitute(v) for k, v in spec.job_parameters}
    except ValueError as exc:
        raise NotLaunchable("ReferenceError", str(exc)) from None
    params["lakehook"] = encode_handle(ctx.settings.callback_url, p.id, ctx.signer.token(p.id, p.nonce))
    return TriggerRequest(
        job_id=job.job_id,
        job_key=job.key,
        parameters=params,
        idempotency_token=idempotency_token(p.id),
        promise_id=p.id,
    )


KIND = RunJob()
