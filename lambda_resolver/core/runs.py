"""A flow run's life: start it, admit it to a concurrency slot, stop it.

Starting is idempotent by run id; admitting moves a PENDING run to RUNNING once it holds a slot
of ``max_concurrent_runs`` and drives its roots; stopping (cancel or timeout) is the one
operation that visits every task of a run — a settle never does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lambda_resolver.core.advance import Advancer
from lambda_resolver.core.context import Context
from lambda_resolver.core.errors import BadRequest, ConcurrencyLimit, NotFound, RunConflict, StoreConflict
from lambda_resolver.core.ids import MAX_RUN_ID, check_id, new_nonce, new_run_id
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import Promise, PromiseState, Run, RunState, RunTrigger, Task, TaskState


class RunLife:
    """Start, admit and stop flow runs."""

    def __init__(self, ctx: Context, advancer: Advancer) -> None:
        self.ctx = ctx
        self.advancer = advancer

    def start(
        self,
        flow: str,
        *,
        run_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        notify_url: str | None = None,
        trigger: RunTrigger | None = None,
    ) -> tuple[Run, bool]:
        """Start a flow run. Idempotent by ``run_id``: the same start again returns the stored
        run (created False); a different flow or parameters under that id is a RunConflict."""
        ctx = self.ctx
        manifest = ctx.manifest(flow)
        full = _run_params(manifest, params or {})
        now = ctx.now()
        if run_id is None:
            run_id = new_run_id(flow, now)
        check_id(run_id, "run_id")
        if len(run_id) > MAX_RUN_ID:
            raise BadRequest(f"run_id is {len(run_id)} characters; at most {MAX_RUN_ID}")
        existing = ctx.store.get_run(run_id)
        if existing is not None and existing.state is not RunState.PENDING:
            return _same_start(existing, flow, full), False
        deadline = now + manifest.timeout_seconds * 1000 if manifest.timeout_seconds else None
        run = Run(
            run_id=run_id,
            flow=manifest.name,
            flow_version=manifest.version,
            state=RunState.PENDING,
            created_at=now,
            params=full,
            notify_url=notify_url,
            open_leaves=len(manifest.leaves),
            deadline_at=deadline,
            due_at=now + ctx.settings.queue_poll_ms,
            trigger=trigger or RunTrigger(),
        )
        stored, created = ctx.writes.create_run(run, initial_tasks(manifest, run_id))
        if not created:
            _same_start(stored, flow, full)
        ctx.event("run_created", {"run_id": run_id, "flow": flow, "version": manifest.version})
        started = self.admit(stored)
        if started is None:
            if manifest.queue:
                return stored, created  # queued: PENDING until a slot frees
            self.stop(run_id, RunState.CANCELED.value)
            raise ConcurrencyLimit(
                f"flow '{flow}' already has {manifest.max_concurrent_runs} active run(s) "
                "(max_concurrent_runs); wait, cancel one, or enable `queue` on the flow job"
            )
        return started, created

    def admit(self, run: Run) -> Run | None:
        """Move a PENDING run to RUNNING once it holds a concurrency slot, and start its roots."""
        ctx = self.ctx
        manifest = ctx.manifest(run.flow, run.flow_version)
        if run.state is RunState.PENDING:
            # A crash inside create_run (DynamoDB writes the run and its tasks one by one) leaves a
            # PENDING run with tasks missing: creating it again is idempotent and fills them in,
            # before anything can run.
            ctx.writes.create_run(run, initial_tasks(manifest, run.run_id))
            if not self._acquire_slot(run, manifest.max_concurrent_runs):
                return None
            now = ctx.now()
            due = now + ctx.settings.run_watchdog_ms
            if run.deadline_at is not None:
                due = min(due, run.deadline_at)
            try:
                run = ctx.writes.move_run(run.run_id, RunState.RUNNING, {"due_at": due})
            except StoreConflict as exc:
                run = exc.current
        if run.state is RunState.RUNNING:
            for root in manifest.roots:
                self.advancer.drive(run, root)
        return ctx.store.get_run(run.run_id)

    def _acquire_slot(self, run: Run, limit: int) -> bool:
        store = self.ctx.store
        if store.acquire_slot(run.flow, run.run_id, limit):
            return True
        # Free slots whose runs have ended (a crash between finishing a run and releasing).
        freed = False
        for holder in store.slot_holders(run.flow):
            held = store.get_run(holder)
            if held is None or held.state.final:
                store.release_slot(run.flow, holder)
                freed = True
        return freed and store.acquire_slot(run.flow, run.run_id, limit)

    def stop(self, run_id: str, reason: str = RunState.CANCELED.value) -> Run:
        """Cancel (or time out) a run: nothing new starts, running attempts are canceled and their
        Databricks runs stopped. O(tasks of the run); a settle never does this."""
        ctx = self.ctx
        try:
            run = ctx.writes.request_stop(run_id, reason)
        except StoreConflict as exc:
            run = exc.current
            assert isinstance(run, Run)
            if run.state.final:
                return run  # already finished: cancel is a no-op, like Databricks
        if run.state is RunState.PENDING:  # fill in tasks a crash inside create_run left missing
            ctx.writes.create_run(run, initial_tasks(ctx.manifest(run.flow, run.flow_version), run_id))
        for t in ctx.store.list_tasks(run_id):
            self._stop_task(run, t)
        after = ctx.store.get_run(run_id)
        assert after is not None
        return after

    def _stop_task(self, run: Run, t: Task) -> None:
        """Cancel ``t``'s attempt if it has one and drive ``t`` to its end. A driver that read the
        run before the stop (a parent's settle) may claim ``t`` just as the stop moves it from
        WAITING to CANCELED; the stop loses that write, so it looks again and cancels the attempt
        the claim began: its launch then finds the promise canceled, or stops the run it started."""
        for _ in range(2):
            if t.state in (TaskState.TRIGGERING, TaskState.RUNNING) and t.promise_id:
                self._cancel_attempt(run, t)
            self.advancer.drive(run, t.key)
            after = self.ctx.store.get_task(run.run_id, t.key)
            if after is None or after.state not in (TaskState.TRIGGERING, TaskState.RUNNING):
                return
            t = after

    def _cancel_attempt(self, run: Run, t: Task) -> None:
        assert t.promise_id is not None
        ctx = self.ctx
        now = ctx.now()
        error = {"type": "Canceled", "message": f"run {run.run_id} was {run.stop_reason or 'canceled'}"}
        state = (
            PromiseState.REJECTED_TIMEDOUT
            if run.stop_reason == "TIMEDOUT"
            else PromiseState.REJECTED_CANCELED
        )
        try:
            ctx.writes.settle_promise(
                t.promise_id, state, {"error": error, "due_at": None}, now=now, deadline=False
            )
        except StoreConflict:
            pass  # already settled: its own outcome stands
        except NotFound:
            # Claimed but not launched yet: create the promise already canceled so no launch starts.
            p = Promise(
                id=t.promise_id,
                state=state,
                created_at=now,
                timeout_at=now,
                error=error,
                settled_at=now,
                run_id=t.run_id,
                task_key=t.key,
                attempt=t.attempt,
                nonce=new_nonce(),
            )
            created, new = ctx.writes.create_promise(p)
            if not new and created.state is PromiseState.PENDING:
                self._cancel_attempt(run, t)


def _same_start(run: Run, flow: str, params: Mapping[str, str]) -> Run:
    if run.flow != flow or dict(run.params) != dict(params):
        raise RunConflict(
            f"run '{run.run_id}' already exists with flow '{run.flow}' and parameters "
            f"{json.dumps(dict(run.params))}; use a new run_id to start a different run",
            details={"run_id": run.run_id},
        )
    return run


def initial_tasks(manifest: FlowManifest, run_id: str) -> list[Task]:
    """Every task of a new run: WAITING, counting down its dependencies."""
    return [
        Task(run_id=run_id, key=t.key, state=TaskState.WAITING, waiting=len(t.depends_on))
        for t in manifest.tasks
    ]


def _run_params(manifest: FlowManifest, given: Mapping[str, Any]) -> dict[str, str]:
    declared = manifest.parameter_defaults
    unknown = sorted(set(given) - set(declared))
    if unknown:
        names = ", ".join(sorted(declared)) or "none"
        raise BadRequest(
            f"flow '{manifest.name}' has no parameter(s) {', '.join(unknown)}; it declares: {names}"
        )
    out = dict(declared)
    for k, v in given.items():
        out[k] = v if isinstance(v, str) else json.dumps(v)
    return out
