"""The reconciler: the safety net behind callbacks and webhooks (DESIGN §1, signal 3).

One pass reads the due index — never the table — and, for each record found, does what was
missed: times out promises (then cancels their Databricks runs), starts due retries, settles
runs that ended without a callback, re-drives claims stuck in TRIGGERING with the same
idempotency token, finishes propagation cut short by a crash, finishes or times out runs, and
fires schedules whose next slot has come (``core/scheduler.py``).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import TYPE_CHECKING, Any

from lambda_resolver.core import notifications
from lambda_resolver.core.advance import Advancer
from lambda_resolver.core.context import Context, log
from lambda_resolver.core.errors import AlreadySettled, BadRequest, LakehookError, LaunchError, StoreConflict
from lambda_resolver.core.models import DueItem, Promise, PromiseState, RunState, TaskState
from lambda_resolver.core.standalone import Standalone

if TYPE_CHECKING:
    from lambda_resolver.core.engine import Engine

_FROM_RESULT = {
    "CANCELED": PromiseState.REJECTED_CANCELED,
    "TIMEDOUT": PromiseState.REJECTED_TIMEDOUT,
}


class Reconciler:
    def __init__(self, ctx: Context, advancer: Advancer, standalone: Standalone) -> None:
        self.ctx = ctx
        self.advancer = advancer
        self.standalone = standalone
        self._inline: list[notifications.Claimed] = []  # this pass's notifications to send last

    def run_once(self, engine: Engine, limit: int = 100) -> dict[str, int]:
        counts: Counter[str] = Counter()
        inline: list[notifications.Claimed] = []
        self._inline = inline
        for item in self.ctx.store.due(self.ctx.now(), limit):
            try:
                if item.kind == "task":
                    counts[self._task(engine, item)] += 1
                elif item.kind == "promise":
                    counts[self._promise(engine, item)] += 1
                elif item.kind == "schedule":
                    counts["schedule_" + engine.schedules.fire(engine, item.id)] += 1
                else:
                    counts[self._run(engine, item)] += 1
            except LakehookError as exc:
                # One bad record must not stop the pass; it stays due and is tried again.
                log.warning("reconciler: %s %s: %s", item.kind, item.id, exc.message)
                counts["errors"] += 1
        # Notifications go last: a slow receiver never holds up a timeout due in the same pass.
        notifications.send_all(self.ctx, inline)
        if counts:
            self.ctx.event("reconciled", dict(counts))
        return dict(counts)

    # -- tasks -----------------------------------------------------------------------------------
    def _task(self, engine: Engine, item: DueItem) -> str:
        ctx, now = self.ctx, self.ctx.now()
        assert item.task_key is not None
        run = ctx.store.get_run(item.id)
        t = ctx.store.get_task(item.id, item.task_key)
        if run is None or t is None or t.due_at is None or t.due_at > now:
            return "stale"
        if t.state.terminal and t.propagated:  # a fan-out's last chunk won the race to keep it due
            self._reschedule_task(t.run_id, t.key, t.attempt, t.state, None)
            return "stale"
        if t.state is TaskState.RUNNING and t.promise_id:
            p = ctx.store.get_promise(t.promise_id)
            if p is not None and p.state is PromiseState.PENDING:
                return self._running(engine, t.run_id, t.key, t.attempt, p)
        self.advancer.drive(run, t.key)
        after = ctx.store.get_task(t.run_id, t.key)
        if after is not None and after.state is TaskState.TRIGGERING and after.attempt == t.attempt:
            if after.due_at is not None and after.due_at <= now:  # the launch failed again
                self._reschedule_task(
                    t.run_id, t.key, t.attempt, TaskState.TRIGGERING, now + ctx.settings.stuck_claim_ms
                )
            return "relaunched"
        return {
            TaskState.TRIGGERING: "relaunched",
            TaskState.RETRY_WAIT: "retried",
            TaskState.RUNNING: "recovered",
        }.get(t.state, "propagated")

    def _running(self, engine: Engine, run_id: str, key: str, attempt: int, p: Promise) -> str:
        now = self.ctx.now()
        if now >= p.timeout_at:
            return self._timeout(engine, p)
        if p.databricks_run_id is not None:
            try:
                due = self.check_databricks_run(p, engine)
            except LaunchError:
                self._reschedule_task(run_id, key, attempt, TaskState.RUNNING, self._next_check(p, now))
                raise
            if due is None:
                return "settled_from_run"
        else:
            due = p.timeout_at  # an external task: nothing to poll, wait for its settle
        self._reschedule_task(run_id, key, attempt, TaskState.RUNNING, due)
        return "checked"

    def _next_check(self, p: Promise, now: int) -> int:
        """When to read a run again after ``runs/get`` failed (throttled, down, the run gone): at
        the next check, not on the next pass — a scheduled invocation runs passes until nothing is
        due, so a record left due would be read in a tight loop, hundreds of times a minute."""
        return min(now + self.ctx.settings.check_interval_ms, p.timeout_at)

    def _reschedule_task(
        self, run_id: str, key: str, attempt: int, state: TaskState, due: int | None
    ) -> None:
        with contextlib.suppress(StoreConflict):  # it moved on meanwhile: nothing to reschedule
            self.ctx.writes.set_task_fields(run_id, key, {"due_at": due}, while_in=state, attempt=attempt)

    def _timeout(self, engine: Engine, p: Promise) -> str:
        """Time ``p`` out, and say what became of it: ``timed_out``; ``settled`` if another settle
        got there first; ``extended`` if a heartbeat moved the deadline out first (the record is
        still due, and the next pass looks at it as usual)."""
        try:
            engine.settle(
                p.id,
                PromiseState.REJECTED_TIMEDOUT,
                error={"type": "Timeout", "message": "the promise timed out"},
            )
        except AlreadySettled:
            return "settled"
        except BadRequest:
            return "extended"
        return "timed_out"

    def check_databricks_run(self, p: Promise, engine: Engine) -> int | None:
        """Re-read ``p``'s Databricks run; settle ``p`` if the run ended. Returns when to look
        again, or None once settled. The webhook route calls this too."""
        ctx, now = self.ctx, self.ctx.now()
        assert p.databricks_run_id is not None
        status = ctx.launcher.get_run(p.databricks_run_id)
        next_look = min(now + ctx.settings.check_interval_ms, p.timeout_at)
        if not status.ended:
            return next_look
        value: Any = None
        error: dict[str, Any] | None = None
        if status.result == "SUCCESS":
            grace_end = (status.ended_at or now) + ctx.settings.success_grace_ms
            if now < grace_end:
                return min(grace_end, p.timeout_at)  # give notify_done, which carries the value, its turn
            state = PromiseState.RESOLVED
            value = status.output
        else:
            state = _FROM_RESULT.get(status.result or "", PromiseState.REJECTED)
            message = (
                status.message or f"Databricks run {p.databricks_run_id} ended {status.result or status.life}"
            )
            error = {
                "type": "DatabricksRun" + (status.result or status.life).title().replace("_", ""),
                "message": message,
            }
        try:
            engine.settle(
                p.id, state, value=value, error=error, idempotency_key=f"databricks-run:{p.databricks_run_id}"
            )
        except AlreadySettled:
            pass  # the callback won
        except LakehookError as exc:  # e.g. an exit value over the size limit
            err = {"type": "DatabricksRunOutput", "message": exc.message}
            with contextlib.suppress(AlreadySettled):
                engine.settle(p.id, PromiseState.REJECTED, error=err)
        return None

    # -- standalone promises ----------------------------------------------------------------------
    def _promise(self, engine: Engine, item: DueItem) -> str:
        ctx, now = self.ctx, self.ctx.now()
        p = ctx.store.get_promise(item.id)
        if p is None or p.due_at is None or p.due_at > now:
            return "stale"
        if p.state.settled:
            if p.iteration is not None:  # an iteration's try its loop has not counted yet
                engine.settler.after_settle(p)
                return "iteration"
            if p.notify_url and p.notified_at is None and p.run_id is None:
                return notifications.on_due(ctx, "promise", p, self._inline)
            self._set_promise_due(p, None, expect=p.state)
            return "stale"
        if now >= p.timeout_at:
            return self._timeout(engine, p)
        if p.job is not None and p.databricks_run_id is None:
            after = self.standalone.launch(p)
            if after.databricks_run_id is None and after.state is PromiseState.PENDING:
                self._set_promise_due(after, now + ctx.settings.stuck_claim_ms)
            return "relaunched"
        due = p.timeout_at
        if p.databricks_run_id is not None:
            try:
                checked = self.check_databricks_run(p, engine)
            except LaunchError:
                self._set_promise_due(p, self._next_check(p, now))
                raise
            if checked is None:
                return "settled_from_run"
            due = checked
        self._set_promise_due(p, due)
        return "checked"

    def _set_promise_due(
        self, p: Promise, due: int | None, expect: PromiseState = PromiseState.PENDING
    ) -> None:
        with contextlib.suppress(StoreConflict):
            self.ctx.writes.set_promise_fields(p.id, {"due_at": due}, while_in=expect)

    # -- runs ---------------------------------------------------------------------------------------
    def _run(self, engine: Engine, item: DueItem) -> str:
        ctx, now = self.ctx, self.ctx.now()
        run = ctx.store.get_run(item.id)
        if run is None or run.due_at is None or run.due_at > now:
            return "stale"
        if run.state.final:
            if run.notify_url and run.notified_at is None:
                return notifications.on_due(ctx, "run", run, self._inline)
            self._set_run_due(run.run_id, None, run.state)
            return "stale"
        if run.state is RunState.PENDING and not run.stop_reason:
            admitted = engine.admit(run)
            if admitted is None:
                self._set_run_due(run.run_id, now + ctx.settings.queue_poll_ms, RunState.PENDING)
                return "queued"
            return "admitted"
        if run.state is RunState.RUNNING and run.repair and not run.repair.get("applied"):
            run = engine.repairs.apply(run)  # a repair a crash cut short
            if run.state.final:
                return "repaired"
        if run.deadline_at is not None and now >= run.deadline_at and not run.stop_reason:
            engine.stop_run(run.run_id, RunState.TIMEDOUT.value)
            return "run_timed_out"
        if run.stop_reason:
            engine.stop_run(run.run_id, run.stop_reason)  # finish a stop a crash cut short
        else:
            manifest = ctx.manifest(run.flow, run.flow_version)
            for root in manifest.roots:  # a crash between RUNNING and the roots' claims
                self.advancer.drive(run, root)
        after = ctx.store.get_run(run.run_id)
        if after is not None and not after.state.final and after.open_leaves <= 0:
            self.advancer.finalize(after)
            return "finished"
        if after is not None and not after.state.final:
            due = now + ctx.settings.run_watchdog_ms
            if after.deadline_at is not None and not after.stop_reason:
                due = min(due, after.deadline_at)
            self._set_run_due(after.run_id, due, after.state)
        return "watched"

    def _set_run_due(self, run_id: str, due: int | None, state: RunState) -> None:
        with contextlib.suppress(StoreConflict):
            self.ctx.writes.set_run_fields(run_id, {"due_at": due}, while_in=state)
