"""The engine: the core's public face. Start and stop flow runs, settle promises, reconcile.

The edges (Lambda handler, local server, CLI) call these methods and map errors; the engine
knows nothing of HTTP, Lambda, boto3 or Databricks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambda_resolver.core import promise_machine as pm
from lambda_resolver.core.advance import Advancer
from lambda_resolver.core.clock import iso
from lambda_resolver.core.context import Context, log
from lambda_resolver.core.errors import (
    AlreadySettled,
    BadRequest,
    ConcurrencyLimit,
    LakehookError,
    NotFound,
    RunConflict,
    StoreConflict,
    ValueTooLarge,
)
from lambda_resolver.core.ids import MAX_RUN_ID, check_id, new_nonce, new_run_id
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import JSON, Promise, PromiseState, Run, RunState, Task, TaskState
from lambda_resolver.core.reconcile import Reconciler
from lambda_resolver.core.standalone import Standalone


@dataclass(frozen=True)
class Settled:
    """The answer to a settle: the stored promise and whether this request changed it."""

    promise: Promise
    verdict: pm.Verdict


class Engine:
    """Durable promises and flow runs over a store and a launcher."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.advancer = Advancer(ctx)
        self.standalone = Standalone(ctx)
        self.reconciler = Reconciler(ctx, self.advancer, self.standalone)

    # -- flows ---------------------------------------------------------------------------------
    def publish(self, manifest: FlowManifest) -> FlowManifest:
        """Store a compiled flow as its next version. Runs already started keep theirs."""
        return self.ctx.store.put_flow(manifest)

    # -- runs ----------------------------------------------------------------------------------
    def start_run(
        self,
        flow: str,
        *,
        run_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        notify_url: str | None = None,
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
            return self._same_start(existing, flow, full), False
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
        )
        stored, created = ctx.store.create_run(run, initial_tasks(manifest, run_id))
        if not created:
            self._same_start(stored, flow, full)
        ctx.event("run_created", {"run_id": run_id, "flow": flow, "version": manifest.version})
        started = self.admit(stored)
        if started is None:
            if manifest.queue:
                return stored, created  # queued: PENDING until a slot frees
            self.stop_run(run_id, RunState.CANCELED.value)
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
            ctx.store.create_run(run, initial_tasks(manifest, run.run_id))
            if not self._acquire_slot(run, manifest.max_concurrent_runs):
                return None
            now = ctx.now()
            due = now + ctx.settings.run_watchdog_ms
            if run.deadline_at is not None:
                due = min(due, run.deadline_at)
            try:
                run = ctx.store.update_run(
                    run.run_id,
                    {"state": RunState.RUNNING.value, "due_at": due},
                    expect_states=(RunState.PENDING,),
                )
            except StoreConflict as exc:
                run = exc.current
        if run.state is RunState.RUNNING:
            for root in manifest.roots:
                self.advancer.drive(run, root)
        return self.ctx.store.get_run(run.run_id)

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

    def _same_start(self, run: Run, flow: str, params: Mapping[str, str]) -> Run:
        if run.flow != flow or dict(run.params) != dict(params):
            raise RunConflict(
                f"run '{run.run_id}' already exists with flow '{run.flow}' and parameters "
                f"{json.dumps(dict(run.params))}; use a new run_id to start a different run",
                details={"run_id": run.run_id},
            )
        return run

    def stop_run(self, run_id: str, reason: str = RunState.CANCELED.value) -> Run:
        """Cancel (or time out) a run: nothing new starts, running attempts are canceled and their
        Databricks runs stopped. O(tasks of the run); a settle never does this."""
        ctx = self.ctx
        try:
            run = ctx.store.update_run(
                run_id, {"stop_reason": reason}, expect_states=(RunState.PENDING, RunState.RUNNING)
            )
        except StoreConflict as exc:
            run = exc.current
            assert isinstance(run, Run)
            if run.state.final:
                return run  # already finished: cancel is a no-op, like Databricks
        if run.state is RunState.PENDING:  # fill in tasks a crash inside create_run left missing
            ctx.store.create_run(run, initial_tasks(ctx.manifest(run.flow, run.flow_version), run_id))
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
        now = self.ctx.now()
        error = {"type": "Canceled", "message": f"run {run.run_id} was {run.stop_reason or 'canceled'}"}
        state = (
            PromiseState.REJECTED_TIMEDOUT
            if run.stop_reason == "TIMEDOUT"
            else PromiseState.REJECTED_CANCELED
        )
        changes = {"state": state.value, "error": error, "settled_at": now, "due_at": None}
        try:
            self.ctx.store.update_promise(t.promise_id, changes)
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
            created, new = self.ctx.store.create_promise(p)
            if not new and created.state is PromiseState.PENDING:
                self._cancel_attempt(run, t)

    def get_run(self, run_id: str) -> Run:
        run = self.ctx.store.get_run(run_id)
        if run is None:
            raise NotFound(f"run '{run_id}' does not exist")
        return run

    # -- promises ------------------------------------------------------------------------------
    def settle(
        self,
        promise_id: str,
        state: PromiseState,
        *,
        value: JSON = None,
        error: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        token_nonce: str | None = None,
    ) -> Settled:
        """Settle a promise strictly (DESIGN §3) and advance whatever waits on it.

        Same outcome again → DUPLICATE (the stored promise); a different one → AlreadySettled
        (409, carrying the stored promise); after its deadline → timed out, then AlreadySettled.
        ``token_nonce``: the nonce of the callback token that asked (None: an operator or the
        resolver itself); it must be the promise's own.
        """
        ctx = self.ctx
        check_value_size(value, ctx.settings.max_value_bytes)
        req = pm.SettleRequest(state, value, error, idempotency_key)
        p = ctx.store.get_promise(promise_id)
        if p is None:
            raise NotFound(f"promise '{promise_id}' does not exist")
        pm.check_token(p, token_nonce)
        for _ in range(4):  # a lost conditional write re-decides on the winner's record
            now = ctx.now()
            if (
                state is PromiseState.REJECTED_TIMEDOUT
                and p.state is PromiseState.PENDING
                and now < p.timeout_at
            ):
                # Checked on every record read: a heartbeat that wins the race moves the deadline.
                raise BadRequest(f"promise '{promise_id}' has not reached its deadline; reject it instead")
            verdict = pm.decide(p, req, now)
            if verdict is pm.Verdict.DUPLICATE:
                self._after_settle(p)
                ctx.event("settle_duplicate", {"promise_id": p.id})
                return Settled(p, verdict)
            if verdict is pm.Verdict.CONFLICT:
                self._after_settle(p)
                ctx.event("settle_conflict", {"promise_id": p.id})
                raise AlreadySettled(_conflict_message(p), details={"promise": promise_document(p)})
            target = (
                req
                if verdict is pm.Verdict.APPLY
                else pm.SettleRequest(
                    PromiseState.REJECTED_TIMEDOUT,
                    error={"type": "Timeout", "message": "the promise timed out"},
                )
            )
            try:
                p = self._write_settle(p, target, now)
            except StoreConflict as exc:
                p = exc.current
                continue
            self._after_settle(p)
            ctx.event("promise_settled", {"promise_id": p.id, "state": p.state.value})
            if verdict is pm.Verdict.APPLY:
                return Settled(p, verdict)
        raise AlreadySettled(_conflict_message(p), details={"promise": promise_document(p)})

    def _write_settle(self, p: Promise, req: pm.SettleRequest, now: int) -> Promise:
        changes = {
            "state": req.state.value,
            "value": req.value,
            "error": req.error,
            "settled_at": now,
            "idempotency_key": req.idempotency_key,
            "due_at": self.standalone.due_after_settle(p, now),
        }
        timeout = req.state is PromiseState.REJECTED_TIMEDOUT
        return self.ctx.store.update_promise(
            p.id,
            changes,
            deadline_after=None if timeout else now,
            deadline_at_or_before=now if timeout else None,
        )

    def _after_settle(self, p: Promise) -> None:
        """Push on what waits for ``p``: its task (and dependents), or a standalone promise's run."""
        if p.run_id is not None and p.task_key is not None:
            run = self.ctx.store.get_run(p.run_id)
            if run is not None:
                self.advancer.drive(run, p.task_key)
        else:
            self.standalone.after_settle(p)

    def heartbeat(
        self, promise_id: str, extend_s: int | None = None, *, token_nonce: str | None = None
    ) -> Promise:
        """Push a pending promise's deadline out (never in, never past the cap of
        :func:`promise_machine.extended_deadline`). A timed-out promise answers 409.
        ``token_nonce`` as in :meth:`settle`."""
        ctx = self.ctx
        p = ctx.store.get_promise(promise_id)
        if p is None:
            raise NotFound(f"promise '{promise_id}' does not exist")
        pm.check_token(p, token_nonce)
        if extend_s is not None and not (1 <= extend_s <= 7 * 24 * 3600):
            raise BadRequest("extend_s must be between 1 and 604800 seconds")
        now = ctx.now()
        if not pm.can_extend(p, now):
            if p.state is PromiseState.PENDING:  # past its deadline: it timed out; answer that
                p = self.settle(promise_id, PromiseState.REJECTED_TIMEDOUT).promise
            raise AlreadySettled(_conflict_message(p), details={"promise": promise_document(p)})
        new_deadline = pm.extended_deadline(p, now, extend_s)
        if new_deadline == p.timeout_at:
            return p  # at the cap (or asked for less than it has): nothing to write
        try:
            return ctx.store.update_promise(promise_id, {"timeout_at": new_deadline}, deadline_after=now)
        except StoreConflict as exc:
            cur: Promise = exc.current
            raise AlreadySettled(_conflict_message(cur), details={"promise": promise_document(cur)}) from None

    def get_promise(self, promise_id: str) -> Promise:
        p = self.ctx.store.get_promise(promise_id)
        if p is None:
            raise NotFound(f"promise '{promise_id}' does not exist")
        return p

    # -- signals from Databricks and the clock ---------------------------------------------------
    def on_databricks_run(self, databricks_run_id: int) -> Promise | None:
        """A job notification for a run: never trust it, re-read the run and settle from that."""
        p = self.ctx.store.promise_by_databricks_run(databricks_run_id)
        if p is None:
            return None
        if p.state is PromiseState.PENDING:
            self.reconciler.check_databricks_run(p, self)
        return self.ctx.store.get_promise(p.id)

    def reconcile(self, limit: int = 100) -> dict[str, int]:
        """One pass of the safety net over the due index. Returns counts by what was done."""
        return self.reconciler.run_once(self, limit)


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


def check_value_size(value: JSON, limit: int) -> None:
    """Values travel inline up to ``limit`` bytes of JSON; larger ones go by reference."""
    try:
        # allow_nan=False: NaN and infinities (a direct invocation's JSON may carry them) are not JSON
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"value is not JSON: {exc}") from None
    if size > limit:
        raise ValueTooLarge(
            f"value is {size} bytes of JSON; the limit is {limit}. Write large results to a table "
            "or a volume path and pass its name instead"
        )


def _conflict_message(p: Promise) -> str:
    if p.state is PromiseState.REJECTED_TIMEDOUT:
        return f"promise '{p.id}' timed out before this settle arrived"
    return f"promise '{p.id}' was already settled as {p.state.value} with a different outcome"


def promise_document(p: Promise) -> dict[str, Any]:
    """A promise on the wire (the token is never part of it)."""
    return {
        "id": p.id,
        "state": p.state.value,
        "value": p.value,
        "error": p.error,
        "created_at": iso(p.created_at),
        "settled_at": iso(p.settled_at),
        "timeout_at": iso(p.timeout_at),
        "run_id": p.run_id,
        "task_key": p.task_key,
        "attempt": p.attempt or None,
        "databricks_run_id": p.databricks_run_id,
        "run_page_url": p.run_page_url,
    }


__all__ = ["Engine", "LakehookError", "Settled", "check_value_size", "log", "promise_document"]
