"""A ``for_each_task``: its nested ``run_job_task`` runs once per input, ``concurrency`` at a time.

Each iteration is its own attempt: its own promise (``<run>.<task>.<attempt>.<n>``, a retry
``….<n>.<try>``), with the job and its substituted parameters in it, its own idempotency token
derived from that id. An iteration promise is launched, re-read, timed out and relaunched by the
same code as a standalone promise (it sits in the promise due index while it needs work); its
settle comes here (:func:`after_iteration`), which counts it off the loop exactly once, claims the
next pending iterations and — after the last one — settles the for_each task's own attempt by
Databricks' rule (:func:`~lambda_resolver.core.iterations.loop_result`). A settled iteration
promise stays due until that is done, so a crash anywhere leaves the work findable.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambda_resolver.core import fanout
from lambda_resolver.core import task_machine as tm
from lambda_resolver.core.context import log
from lambda_resolver.core.errors import StoreConflict
from lambda_resolver.core.ids import new_nonce, task_promise_id
from lambda_resolver.core.iterations import (
    ITERATION_RESULT,
    MAX_INPUTS,
    MAX_INPUTS_BYTES,
    Iteration,
    IterationState,
    Loop,
    iteration_promise_id,
    loop_result,
)
from lambda_resolver.core.manifest import TaskKind, TaskSpec
from lambda_resolver.core.models import JSON, Promise, PromiseState, Run, Task
from lambda_resolver.core.standalone import Standalone
from lambda_resolver.core.substitution import ReferenceResolver

if TYPE_CHECKING:
    from lambda_resolver.core.advance import Advancer, Next
    from lambda_resolver.core.kinds import Attempt
    from lambda_resolver.core.manifest import FlowManifest

_CANCELED = (PromiseState.REJECTED_CANCELED, PromiseState.REJECTED_TIMEDOUT)


class ForEach:
    name = TaskKind.FOR_EACH
    needs_job = False  # its nested task names the job (checked on its own)
    needs_job_id = False
    label = "for each"
    waits_outside = False
    decision = False
    finishes_with_settle = False

    def start(self, adv: Advancer, a: Attempt) -> Next:
        spec, t, p = a.spec, a.task, a.promise
        assert spec.for_each is not None
        try:
            inputs = resolve_inputs(adv, a.run, a.manifest, spec)
        except ValueError as exc:
            error = adv.error("ForEachInputs", str(exc), retryable=False)  # same inputs next time
            return adv.settle_self(spec, t, PromiseState.REJECTED, error=error)
        loop = Loop(
            t.run_id, t.key, t.attempt, tuple(inputs), spec.for_each.concurrency, created_at=adv.ctx.now()
        )
        loop, _ = adv.ctx.writes.create_loop(loop)
        if loop.finished:  # no inputs (Databricks succeeds an empty loop), or a re-drive after the last
            state, failure = loop_result(loop)
            return adv.settle_self(spec, t, state, error=failure)
        # Claim first: until the task is RUNNING its claim stays due, so a crash before the first
        # iterations are claimed is re-driven here (a claimed iteration's promise is due itself).
        pump(adv, a.run, a.manifest, spec, loop)
        return adv.mark_running(t, p, None, None)

    def before_finish(self, adv: Advancer, a: Attempt) -> Promise:
        return a.promise

    def outcome(self, value: JSON) -> str | None:
        return None

    def after_finish(self, adv: Advancer, spec: TaskSpec, t: Task, p: Promise) -> None:
        """The attempt ended before its iterations did (canceled, timed out): stop the loop and
        cancel the iterations still running (their Databricks runs with them)."""
        loop = adv.ctx.store.get_loop(t.run_id, t.key, t.attempt)
        if loop is None or loop.finished:
            return
        loop = adv.ctx.writes.stop_loop(t.run_id, t.key, t.attempt) or loop
        cancel_active(adv, loop, f"the for_each task {t.key} was {p.state.value.lower()}")


def resolve_inputs(adv: Advancer, run: Run, manifest: FlowManifest, spec: TaskSpec) -> list[JSON]:
    """The loop's inputs: the JSON array written in the task, or the upstream value it names."""
    assert spec.for_each is not None
    text = ReferenceResolver(adv.ctx.store, run, manifest).substitute(spec.for_each.inputs)
    try:
        inputs = json.loads(text)
    except ValueError:
        raise ValueError(f"inputs must be a JSON array; got {text[:200]!r}") from None
    if not isinstance(inputs, list):
        raise ValueError(  # noqa: TRY004 - the attempt's error, as for any other bad input
            f"inputs must be a JSON array; got {type(inputs).__name__} {text[:200]!r}"
        )
    if len(text.encode()) > MAX_INPUTS_BYTES:
        raise ValueError(
            f"inputs take {len(text.encode())} bytes of JSON; at most {MAX_INPUTS_BYTES}: pass table "
            "names or paths, not the data"
        )
    if len(inputs) > MAX_INPUTS:
        raise ValueError(f"inputs has {len(inputs)} elements; a for_each task takes at most {MAX_INPUTS}")
    return inputs


@dataclass(frozen=True)
class _Where:
    """What the steps of a loop read: the advancer, the run, its manifest, the for_each spec."""

    adv: Advancer
    run: Run
    manifest: FlowManifest
    spec: TaskSpec


def pump(adv: Advancer, run: Run, manifest: FlowManifest, spec: TaskSpec, loop: Loop) -> Loop:
    """Claim iterations while a slot is free, then launch the ones claimed here side by side.
    Each claim is one conditional write on the loop's ``next``: of several pumps, one wins each."""
    ctx, where = adv.ctx, _Where(adv, run, manifest, spec)
    claimed: list[Promise] = []
    while (
        not loop.stopped and not run.stop_reason and loop.next < loop.total and loop.active < loop.concurrency
    ):
        index = loop.next
        it, p = _first_try(where, loop, index)
        try:
            loop = ctx.writes.claim_iteration(loop, it, p)
        except StoreConflict as exc:
            loop = exc.current  # another pump claimed it (or the loop is full): decide again
            continue
        ctx.event("iteration_claimed", {"run_id": run.run_id, "task_key": spec.key, "index": index})
        claimed.append(p)
    if len(claimed) > 1 and ctx.settings.fanout_workers > 1:
        fanout.each_side_by_side(adv, lambda q: _launch(adv, q), claimed)
    else:
        for q in claimed:
            _launch(adv, q)
    return loop


def _first_try(where: _Where, loop: Loop, index: int) -> tuple[Iteration, Promise]:
    now = where.adv.ctx.now()
    pid = iteration_promise_id(loop.run_id, loop.task_key, loop.attempt, index)
    it = Iteration(index, loop.inputs[index], IterationState.RUNNING, 1, pid, triggered_at=now)
    return it, _promise(where, loop, index, pid, start=now)


def _promise(where: _Where, loop: Loop, index: int, pid: str, *, start: int) -> Promise:
    """A try's promise, carrying its job and parameters; due at once so a crash before its launch
    leaves it for the reconciler (which launches it with the same idempotency token)."""
    ctx = where.adv.ctx
    assert where.spec.for_each is not None
    nested = where.spec.for_each.task
    job, error = _job_doc(where, nested, loop.inputs[index])
    timeout_s = nested.timeout_seconds or ctx.settings.default_task_timeout_s
    fields: dict[str, Any] = {"state": PromiseState.PENDING, "due_at": start}
    if error is not None:  # it could never start: born failed, not retried (the same input next time)
        fields = {
            "state": PromiseState.REJECTED,
            "error": error,
            "settled_at": ctx.now(),
            "due_at": ctx.now(),
        }
    return Promise(
        id=pid,
        created_at=ctx.now(),
        timeout_at=start + timeout_s * 1000,
        run_id=loop.run_id,
        task_key=loop.task_key,
        attempt=loop.attempt,
        iteration=index,
        job=job,
        nonce=new_nonce(),
        **fields,
    )


def _job_doc(
    where: _Where, nested: TaskSpec, value: JSON
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The try's job (id, key, substituted parameters), or why it cannot start."""
    adv = where.adv
    assert nested.job_key is not None
    job = where.manifest.job(nested.job_key)
    if job.job_id is None:
        msg = f"job '{job.key}' has no Databricks job id: deploy the bundle and run `lakehook publish`"
        return None, adv.error("JobNotPublished", msg, retryable=False)
    resolver = ReferenceResolver(adv.ctx.store, where.run, where.manifest, iteration_input=value)
    try:
        params = {k: resolver.substitute(v) for k, v in nested.job_parameters}
    except ValueError as exc:
        return None, adv.error("ReferenceError", str(exc), retryable=False)
    return {"job_id": job.job_id, "job_key": job.key, "params": params}, None


def _launch(adv: Advancer, p: Promise) -> None:
    """Start one try's run (or settle it if it was born settled)."""
    if p.state.settled:
        after_iteration(adv, p)
        return
    after = Standalone(adv.ctx).launch(p)
    if after.state.settled and after.databricks_run_id is None:  # Databricks refused the run-now
        after_iteration(adv, after)


def after_iteration(adv: Advancer, p: Promise) -> None:
    """A try of an iteration settled: count it (or retry it), claim what is now free, settle the
    for_each attempt after its last iteration, then take the promise off the due index. Each step
    is idempotent, and the promise stays due until the last one: a crash repeats them safely."""
    ctx = adv.ctx
    if p.state in _CANCELED:  # nothing keeps running (invariant 5)
        if p.databricks_run_id is not None:
            adv.cancel_databricks(p.databricks_run_id)
        elif p.job is not None:
            # Its run-now may have started a run whose id was never recorded (a crash between the
            # two): ask again with the same token — Databricks answers with that run — and cancel it.
            p = Standalone(ctx).launch(p)
    assert p.run_id is not None and p.task_key is not None and p.iteration is not None
    run = ctx.store.get_run(p.run_id)
    loop = ctx.store.get_loop(p.run_id, p.task_key, p.attempt)
    if run is None or loop is None:
        return
    manifest = ctx.manifest(run.flow, run.flow_version)
    spec = manifest.task(p.task_key)
    assert spec.for_each is not None
    owner = ctx.store.get_promise(task_promise_id(p.run_id, p.task_key, p.attempt))
    stopping = loop.stopped or bool(run.stop_reason) or (owner is not None and owner.state.settled)
    it = ctx.store.get_iteration(p.run_id, p.task_key, p.attempt, p.iteration)
    if it is not None and it.state is IterationState.RUNNING and it.promise_id == p.id:
        loop = _count(_Where(adv, run, manifest, spec), loop, it, p, stopping=stopping) or loop
    if stopping:
        if owner is not None and owner.state.settled:
            if not (loop.stopped or loop.finished):
                loop = ctx.writes.stop_loop(loop.run_id, loop.task_key, loop.attempt) or loop
            adv.drive(run, p.task_key, promise=owner)  # its attempt finishes, if a crash cut that short
    else:
        loop = pump(adv, run, manifest, spec, loop)
        if loop.finished and owner is not None and not owner.state.settled:
            state, error = loop_result(loop)
            with contextlib.suppress(StoreConflict):  # settled already: its own outcome stands
                done = ctx.writes.settle_promise(
                    owner.id, state, {"error": error, "due_at": None}, now=ctx.now()
                )
                adv.drive(run, p.task_key, promise=done)
    with contextlib.suppress(StoreConflict):
        ctx.writes.set_promise_fields(p.id, {"due_at": None}, while_in=p.state)


def _count(where: _Where, loop: Loop, it: Iteration, p: Promise, *, stopping: bool) -> Loop | None:
    """Move the iteration on from its settled try: a retry (a new promise, due at its retry
    time) or its end, counted off the loop — one conditional write either way."""
    adv = where.adv
    ctx, now = adv.ctx, adv.ctx.now()
    assert where.spec.for_each is not None and p.iteration is not None
    nested = where.spec.for_each.task
    # Not retried: a failure every retry would repeat (a reference that does not resolve for this
    # input, a run-now Databricks refused as wrong).
    error = p.error if isinstance(p.error, dict) else {}
    retryable = error.get("retryable") is not False and error.get("type") != "LaunchError"
    result = tm.after_attempt(nested, it.tries, p.state, now, retryable=retryable)
    retry: Promise | None = None
    if result.retry_at is not None and not stopping:
        pid = iteration_promise_id(loop.run_id, loop.task_key, loop.attempt, p.iteration, it.tries + 1)
        retry = _promise(where, loop, p.iteration, pid, start=result.retry_at)
    changes: dict[str, Any] = {
        "value": p.value,
        "error": p.error,
        "databricks_run_id": p.databricks_run_id,
        "run_page_url": p.run_page_url,
        "settled_at": p.settled_at or now,
    }
    if retry is None:
        changes["state"] = ITERATION_RESULT[p.state].value
    after = ctx.writes.finish_iteration(loop, p.iteration, promise_id=p.id, changes=changes, retry=retry)
    if after is not None:
        ctx.event(
            "iteration_finished",
            {"run_id": loop.run_id, "task_key": loop.task_key, "index": p.iteration, "state": p.state.value},
        )
    if after is not None and retry is not None and (retry.due_at or 0) <= now:
        _launch(adv, retry)
    return after


def cancel_active(adv: Advancer, loop: Loop, message: str) -> None:
    """Settle every running iteration's try REJECTED_CANCELED and count it off (O(claimed))."""
    ctx = adv.ctx
    start = 0
    while True:
        page = ctx.store.list_iterations(loop.run_id, loop.task_key, loop.attempt, start=start, limit=100)
        for it in page:
            if it.state is not IterationState.RUNNING:
                continue
            error = {"type": "Canceled", "message": message}
            try:
                p = ctx.writes.settle_promise(
                    it.promise_id,
                    PromiseState.REJECTED_CANCELED,
                    {"error": error},
                    now=ctx.now(),
                    deadline=False,
                )
            except StoreConflict as exc:
                p = exc.current
            except Exception as exc:  # noqa: BLE001 - one iteration must not stop the others
                log.warning("could not cancel iteration %s: %s", it.promise_id, exc)
                continue
            after_iteration(adv, p)
        if len(page) < 100:
            return
        start = page[-1].index + 1


KIND = ForEach()
