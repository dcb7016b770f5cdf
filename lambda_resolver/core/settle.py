"""Settling promises: strict and idempotent (DESIGN §3), then pushing on what waits for them.

``promise_machine.decide`` says what a settle request does; this module applies the verdict
with one conditional write and hands the settled promise to whatever waits on it — its task's
advance, or a standalone promise's follow-up (cancel its run, notify).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from lambda_resolver.core import promise_machine as pm
from lambda_resolver.core.clock import iso
from lambda_resolver.core.context import Context
from lambda_resolver.core.errors import AlreadySettled, BadRequest, NotFound, StoreConflict, ValueTooLarge
from lambda_resolver.core.models import ACTIVE_TASK_STATES, JSON, Promise, PromiseState, Run, Task
from lambda_resolver.core.standalone import Standalone

if TYPE_CHECKING:
    from lambda_resolver.core.advance import Advancer


class Settled(NamedTuple):
    """The answer to a settle: the stored promise and whether this request changed it."""

    promise: Promise
    verdict: pm.Verdict


class Settler:
    """Settle and heartbeat promises. ``advancer`` gives the flows' advancer when a settle first
    needs it: a process that settles only standalone promises never imports the flow machinery."""

    def __init__(self, ctx: Context, advancer: Callable[[], Advancer], standalone: Standalone) -> None:
        self.ctx = ctx
        self._advancer = advancer
        self.standalone = standalone

    @property
    def advancer(self) -> Advancer:
        return self._advancer()

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
        # A task's current attempt: its promise, task and run in one read, settled and finished
        # in one write (:meth:`_settle_and_finish`); anything else is read and settled alone.
        attempt = ctx.store.read_attempt(promise_id)
        p = attempt[0] if attempt is not None else ctx.store.get_promise(promise_id)
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
                self.after_settle(p)
                ctx.event("settle_duplicate", {"promise_id": p.id})
                return Settled(p, verdict)
            if verdict is pm.Verdict.CONFLICT:
                self.after_settle(p)
                ctx.event("settle_conflict", {"promise_id": p.id})
                raise AlreadySettled(conflict_message(p), details={"promise": promise_document(p)})
            if verdict is pm.Verdict.APPLY and attempt is not None and _one_write(attempt, req):
                settled = self._settle_and_finish(attempt, req, now)
                if settled is not None:
                    return settled
                # it changed since it was read: settle the promise alone, then drive its task
                attempt, read = None, ctx.store.get_promise(promise_id)
                if read is None:
                    raise NotFound(f"promise '{promise_id}' does not exist")
                p = read
                continue
            attempt = None
            target = (
                req
                if verdict is pm.Verdict.APPLY
                else pm.SettleRequest(
                    PromiseState.REJECTED_TIMEDOUT,
                    error={"type": "Timeout", "message": "the promise timed out"},
                )
            )
            try:
                p = self._write(p, target, now)
            except StoreConflict as exc:
                p = exc.current
                continue
            self.after_settle(p)
            ctx.event("promise_settled", {"promise_id": p.id, "state": p.state.value})
            if verdict is pm.Verdict.APPLY:
                return Settled(p, verdict)
        raise AlreadySettled(conflict_message(p), details={"promise": promise_document(p)})

    def _settle_and_finish(
        self, attempt: tuple[Promise, Task, Run], req: pm.SettleRequest, now: int
    ) -> Settled | None:
        """Settle a task's pending attempt promise with a callback's outcome and finish the task
        in one write, then advance from the finished task. None if either record changed since
        it was read: the caller goes the long way."""
        p, t, run = attempt
        ctx = self.ctx
        manifest = ctx.manifest(run.flow, run.flow_version)
        spec = manifest.task(t.key)
        from lambda_resolver.core import attempts  # a flow task's attempt
        from lambda_resolver.core.kinds import kind_of

        if not kind_of(spec).finishes_with_settle:
            return None  # its finish has work of its own first (finish_attempt, the long way)
        changes = {
            "value": req.value,
            "error": req.error,
            "idempotency_key": req.idempotency_key,
            "due_at": self.standalone.due_after_settle(p, now),
        }
        target, task_changes = attempts.finish_plan(
            spec, t, p.replace(state=req.state, settled_at=now, **changes), now, ctx.settings
        )
        try:
            done, p = ctx.writes.settle_and_finish(t, req.state, changes, target, task_changes, now=now)
        except StoreConflict:
            return None
        ctx.event("promise_settled", {"promise_id": p.id, "state": p.state.value})
        ctx.event(
            "task_finished",
            {"run_id": t.run_id, "task_key": t.key, "attempt": t.attempt, "state": target.value},
        )
        self.advancer.drive_from(run, manifest, done)
        return Settled(p, pm.Verdict.APPLY)

    def _write(self, p: Promise, req: pm.SettleRequest, now: int) -> Promise:
        changes = {
            "value": req.value,
            "error": req.error,
            "idempotency_key": req.idempotency_key,
            "due_at": self.standalone.due_after_settle(p, now),
        }
        return self.ctx.writes.settle_promise(p.id, req.state, changes, now=now)

    def after_settle(self, p: Promise) -> None:
        """Push on what waits for ``p``: its task (and dependents), its for_each loop (an
        iteration's try), or a standalone promise's run."""
        if p.iteration is not None:
            from lambda_resolver.core.kinds import for_each  # only a for_each flow has iterations

            for_each.after_iteration(self.advancer, p)
        elif p.run_id is not None and p.task_key is not None:
            run = self.ctx.store.get_run(p.run_id)
            if run is not None:
                self.advancer.drive(run, p.task_key, promise=p)
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
            raise AlreadySettled(conflict_message(p), details={"promise": promise_document(p)})
        new_deadline = pm.extended_deadline(p, now, extend_s)
        if new_deadline == p.timeout_at:
            return p  # at the cap (or asked for less than it has): nothing to write
        try:
            return ctx.writes.extend_promise(promise_id, new_deadline, now=now)
        except StoreConflict as exc:
            cur: Promise = exc.current
            raise AlreadySettled(conflict_message(cur), details={"promise": promise_document(cur)}) from None


def _one_write(attempt: tuple[Promise, Task, Run], req: pm.SettleRequest) -> bool:
    """Whether a settle of ``attempt``'s promise can finish its task in the same write: an
    outcome (a cancel or a timeout stops the attempt's run first), its task at that attempt."""
    p, t, _ = attempt
    return (
        req.state in (PromiseState.RESOLVED, PromiseState.REJECTED)
        and t.state in ACTIVE_TASK_STATES
        and t.attempt == p.attempt
    )


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


def conflict_message(p: Promise) -> str:
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
