"""Event-local advancing: drive one task of a run forward from whatever state it is in.

Every signal (a callback, a webhook, the reconciler, a start) ends in :meth:`Advancer.drive`,
which looks at the stored task and pushes it on with conditional writes. Driving is idempotent
and safe to repeat or to run concurrently: a caller that loses a conditional write stops, and
the winner carries on. Settling a task touches only its dependents — O(out-degree) store
operations — and never scans the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lambda_resolver.core import notifications, repair_plan
from lambda_resolver.core import task_machine as tm
from lambda_resolver.core.context import Context, log
from lambda_resolver.core.errors import LaunchError, StoreConflict
from lambda_resolver.core.ids import new_nonce, task_promise_id
from lambda_resolver.core.kinds import Attempt, kind_of
from lambda_resolver.core.manifest import FlowManifest, TaskSpec
from lambda_resolver.core.models import (
    ACTIVE_TASK_STATES,
    Promise,
    PromiseState,
    Run,
    Task,
    TaskState,
)

T = TaskState


@dataclass(frozen=True)
class Moved:
    """A task as the move that returned it left it: the next step starts from it instead of
    reading it again. ``claimed``: the move was a claim, so its attempt has no promise yet."""

    task: Task
    claimed: bool = False


Next = list["str | Moved"]  # what to look at next: a task key to read, or a task just written


class Advancer:
    """Moves tasks through the task machine (``task_machine``), one conditional write at a time."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- the loop -----------------------------------------------------------------------------
    def drive(self, run: Run, key: str, *, promise: Promise | None = None) -> None:
        """Advance ``key`` and whatever its advance makes ready, until nothing moves.

        ``promise``: the task's attempt's promise, as a settle just wrote it (not read again).
        A task a move returns is stepped from that record, not read again; a finished task is
        counted off (its propagation completed) only once the children its outcome made ready
        have started, so they start as early as they can — a crash in between leaves it due, and
        delivering its edges again changes nothing."""
        manifest = self.ctx.manifest(run.flow, run.flow_version)
        known: dict[str, Promise | None] = {promise.id: promise} if promise is not None else {}
        self._loop(run, manifest, [key], known)

    def _loop(self, run: Run, manifest: FlowManifest, work: Next, known: dict[str, Promise | None]) -> None:
        finished: list[Task] = []
        while work:
            item = work.pop()
            if isinstance(item, Moved):
                task: Task | None = item.task
                if item.claimed and item.task.promise_id:
                    known[item.task.promise_id] = None
            else:
                task = self.ctx.store.get_task(run.run_id, item)
            if task is None:
                log.error("run %s has no task %s", run.run_id, item)
                continue
            work.extend(self.step(run, manifest, task, known, finished))
        for t in finished:
            self._complete(run, manifest, t)

    def _side_by_side(self, work: Callable[[Any], None], items: Sequence[Any]) -> None:
        """Run ``work`` for each item side by side (at most ``fanout_workers`` at a time): the
        children one settle reaches are each their own delivery, claim, promise and run-now, so a
        wide fan-out waits for its slowest child, not for all of them in turn. An error in one
        does not stop the others; the first is raised once all are done."""
        workers = min(self.ctx.settings.fanout_workers, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lakehook-fanout") as pool:
            futures = [pool.submit(work, item) for item in items]
        for future in futures:
            future.result()

    def step(
        self,
        run: Run,
        manifest: FlowManifest,
        t: Task,
        known: dict[str, Promise | None],
        finished: list[Task],
    ) -> Next:
        """One move of one task. Returns the tasks to look at next (itself when it moved).
        ``known`` holds promises already in hand (None: known not to exist yet); a finished task
        whose outcome was delivered goes to ``finished``."""
        spec = manifest.task(t.key)
        if t.state is T.WAITING:
            if run.stop_reason:
                return self._move(t, T.CANCELED, {"settled_at": self.ctx.now()})
            return self._evaluate(run, spec, t) if t.waiting <= 0 else []
        if t.state in ACTIVE_TASK_STATES:
            if t.promise_id in known:
                p = known.pop(t.promise_id)  # in hand once: later steps read it afresh
            else:
                p = self.ctx.store.get_promise(t.promise_id) if t.promise_id else None
            if p is not None and p.state.settled:
                if t.state is T.TRIGGERING:
                    p = kind_of(spec).before_finish(self, Attempt(run, manifest, spec, t, p))
                return self.finish_attempt(spec, t, p)
            if t.state is T.TRIGGERING:
                return self._launch(run, manifest, spec, t, p)
            return []
        if t.state is T.RETRY_WAIT:
            if run.stop_reason:
                return self._move(t, T.CANCELED, {"settled_at": self.ctx.now()})
            return self._next_attempt(t) if (t.due_at or 0) <= self.ctx.now() else []
        if not t.propagated:
            ready = self._propagate(run, manifest, t)
            finished.append(t)
            return ready
        return []

    # -- WAITING → TRIGGERING | skipped ---------------------------------------------------------
    def _evaluate(self, run: Run, spec: TaskSpec, t: Task) -> Next:
        if run.stop_reason:
            return self._move(t, T.CANCELED, {"settled_at": self.ctx.now()})
        target = tm.evaluate(spec.run_if, (tm.EdgeOutcome(o) for o in t.deps.values()))
        if target is T.TRIGGERING:
            return self._claim(t, t.retry_base + 1)  # a repaired task's attempts continue
        return self._move(t, target, {"settled_at": self.ctx.now()})

    def _claim(self, t: Task, attempt: int) -> Next:
        """The claim: one conditional write; exactly one caller wins it and starts the attempt."""
        now = self.ctx.now()
        changes = {
            "attempt": attempt,
            "promise_id": task_promise_id(t.run_id, t.key, attempt),
            "triggered_at": now,
            "due_at": now + self.ctx.settings.stuck_claim_ms,
            "databricks_run_id": None,
            "run_page_url": None,
        }
        try:
            claimed = self.ctx.writes.move_task(t, T.TRIGGERING, changes)
        except StoreConflict:
            return []  # another caller claimed it
        self.ctx.event("task_claimed", {"run_id": t.run_id, "task_key": t.key, "attempt": attempt})
        return [Moved(claimed, claimed=True)]

    def _next_attempt(self, t: Task) -> Next:
        return self._claim(t, t.attempt + 1)

    # -- TRIGGERING → RUNNING ----------------------------------------------------------------------
    def _launch(self, run: Run, manifest: FlowManifest, spec: TaskSpec, t: Task, p: Promise | None) -> Next:
        """Create the attempt's promise (once) and let the task's kind start it."""
        ctx = self.ctx
        assert t.promise_id is not None
        if p is None:
            now = ctx.now()
            timeout_s = spec.timeout_seconds or ctx.settings.default_task_timeout_s
            p, _ = ctx.writes.create_promise(
                Promise(
                    id=t.promise_id,
                    state=PromiseState.PENDING,
                    created_at=now,
                    timeout_at=now + timeout_s * 1000,
                    run_id=t.run_id,
                    task_key=t.key,
                    attempt=t.attempt,
                    nonce=new_nonce(),
                )
            )
            if p.state.settled:
                return self.finish_attempt(spec, t, p)
        if run.stop_reason:
            error = self.error("Canceled", "the run was canceled")
            return self.settle_self(spec, t, PromiseState.REJECTED_CANCELED, error=error)
        return kind_of(spec).start(self, Attempt(run, manifest, spec, t, p))

    def mark_running(self, t: Task, p: Promise, run_id: int | None, url: str | None) -> Next:
        """The attempt started (``run_id`` its Databricks run; None: nothing to start)."""
        ctx = self.ctx
        if run_id is not None:
            p = ctx.writes.set_promise_fields(
                p.id, {"databricks_run_id": run_id, "run_page_url": url}, while_in=None
            )
            if p.state in (PromiseState.REJECTED_CANCELED, PromiseState.REJECTED_TIMEDOUT):
                # Canceled or timed out while run-now was in flight: stop the run we just started.
                self.cancel_databricks(run_id)
        now = ctx.now()
        if run_id is None:
            due = p.timeout_at  # an external task: nothing to re-read, wait for its deadline
        else:  # the claim's deadline serves if it is no later than the next check would be
            due = _keep_due(t.due_at, now, now + ctx.settings.check_interval_ms)
            due = min(due, p.timeout_at)
        changes: dict[str, Any] = {"due_at": due}
        if run_id is not None:
            changes.update(databricks_run_id=run_id, run_page_url=url)
        try:
            running = ctx.writes.move_task(t, T.RUNNING, changes)
        except StoreConflict:
            return []  # the attempt already finished (a fast callback) or was re-driven
        return [Moved(running)] if p.state.settled else []

    def settle_self(
        self,
        spec: TaskSpec,
        t: Task,
        state: PromiseState,
        *,
        value: Any = None,
        error: dict[str, Any] | None = None,
    ) -> Next:
        """Settle the attempt's own promise (a condition, a launch failure, a cancel)."""
        assert t.promise_id is not None
        now = self.ctx.now()
        try:
            p = self.ctx.writes.settle_promise(
                t.promise_id, state, {"value": value, "error": error, "due_at": None}, now=now, deadline=False
            )
        except StoreConflict as exc:
            p = exc.current
        return self.finish_attempt(spec, t, p)

    # -- RUNNING → finished | RETRY_WAIT ---------------------------------------------------------
    def finish_attempt(self, spec: TaskSpec, t: Task, p: Promise) -> Next:
        """Move a task whose attempt's promise is settled to its result, or to RETRY_WAIT."""
        ctx = self.ctx
        now = ctx.now()
        if p.databricks_run_id is not None and p.state in (
            PromiseState.REJECTED_TIMEDOUT,
            PromiseState.REJECTED_CANCELED,
        ):
            self.cancel_databricks(p.databricks_run_id)  # nothing waits forever (invariant 5)
        # A repaired task has its retries again: they count from the attempt it was reset from.
        result = tm.after_attempt(spec, t.attempt - t.retry_base, p.state, now, retryable=_retryable(p))
        changes: dict[str, Any] = {
            "value": p.value,
            "error": p.error,
            "settled_at": p.settled_at or now,
            "databricks_run_id": p.databricks_run_id or t.databricks_run_id,
            "run_page_url": p.run_page_url or t.run_page_url,
        }
        kind = kind_of(spec)
        kind.after_finish(self, spec, t, p)
        outcome = kind.outcome(p.value)
        if outcome is not None:
            changes["outcome"] = outcome
        if result.state is T.RETRY_WAIT:
            changes["due_at"] = result.retry_at
        else:  # propagation follows at once; re-driven only if it has not by then
            grace = now + ctx.settings.propagate_grace_ms
            changes["due_at"] = _keep_due(t.due_at, grace, grace + ctx.settings.check_interval_ms)
            changes["propagated"] = False
        try:
            done = ctx.writes.move_task(t, result.state, changes)
        except StoreConflict:
            return []
        ctx.event(
            "task_finished",
            {"run_id": t.run_id, "task_key": t.key, "attempt": t.attempt, "state": result.state.value},
        )
        return [Moved(done)]

    def _move(self, t: Task, target: TaskState, extra: dict[str, Any]) -> Next:
        """A move into a finished state without running (skipped, or canceled)."""
        changes = {"due_at": self.ctx.now() + self.ctx.settings.propagate_grace_ms}
        changes.update(extra)
        try:
            moved = self.ctx.writes.move_task(t, target, changes)
        except StoreConflict:
            return []
        return [Moved(moved)]

    # -- finished → dependents ---------------------------------------------------------------------
    def _propagate(self, run: Run, manifest: FlowManifest, t: Task) -> Next:
        """Deliver this task's outcome to each dependent — O(out-degree) — and claim (or skip)
        those it made ready; :meth:`_complete` then counts it off. With several dependents, each
        one's delivery, claim and start go side by side (:meth:`_side_by_side`)."""
        children = manifest.children(t.key)
        if len(children) > 1 and self.ctx.settings.fanout_workers > 1:
            self._side_by_side(
                lambda child: self._loop(run, manifest, self._deliver(run, manifest, t, child), {}),
                children,
            )
            return []
        ready: Next = []
        for child in children:
            ready.extend(self._deliver(run, manifest, t, child))
        return ready

    def _deliver(self, run: Run, manifest: FlowManifest, t: Task, child: str) -> Next:
        """Deliver ``t``'s outcome to ``child``; claim (or skip) it if that was its last one."""
        spec = manifest.task(child)
        dep = next(d for d in spec.depends_on if d.task_key == t.key)
        outcome = tm.edge_outcome(t, dep)
        c, _ = self.ctx.writes.deliver_edge(run.run_id, child, t.key, outcome.value)
        if c.state is T.WAITING and c.waiting <= 0:
            # Claim (or skip) before this task counts as propagated, so a crash here leaves
            # the work findable: either this task is still due, or the child is claimed.
            # The claim is conditional: of all parents finishing at once, exactly one wins.
            return self._evaluate(run, spec, c)
        return []

    def _complete(self, run: Run, manifest: FlowManifest, t: Task) -> None:
        """Mark a finished task's propagation done, exactly once; a leaf counts off its run, and
        the last leaf decides the run's result."""
        leaf = repair_plan.leaf_of(run, manifest, t)
        after = self.ctx.writes.complete_propagation(
            run.run_id, t.key, leaf=leaf, failed=tm.is_failure(t.state)
        )
        if after is not None and leaf is not None and after.open_leaves <= 0:
            self.finalize(after)

    def finalize(self, run: Run) -> Run | None:
        """Decide the run's result once no leaf is open. One conditional write; idempotent."""
        state = tm.run_result(run)
        # Release first: a crash after it leaves a run the watchdog finalizes; the other order
        # could leak a slot for good.
        self.ctx.store.release_slot(run.flow, run.run_id)
        try:
            now = self.ctx.now()
            done = self.ctx.writes.move_run(
                run.run_id,
                state,
                # A run with a notify_url stays due until its document is delivered. The state was
                # decided on ``run``'s stop_reason: a stop written since came after every task had
                # finished, too late, like canceling an ended run; the record keeps the basis.
                {"ended_at": now, "due_at": now if run.notify_url else None, "stop_reason": run.stop_reason},
            )
        except StoreConflict:
            return None
        self.ctx.event("run_finished", {"run_id": run.run_id, "flow": run.flow, "state": state.value})
        notifications.announce(self.ctx, "run", done)
        return done

    @staticmethod
    def error(kind: str, message: str, *, retryable: bool = True) -> dict[str, Any]:
        """A settled attempt's error (see :func:`attempt_error`)."""
        return attempt_error(kind, message, retryable=retryable)

    def cancel_databricks(self, databricks_run_id: int) -> None:
        """Stop a Databricks run; a failure is logged (the reconciler looks again)."""
        try:
            self.ctx.launcher.cancel(databricks_run_id)
        except LaunchError as exc:
            log.warning("could not cancel Databricks run %s: %s", databricks_run_id, exc.message)


def attempt_error(kind: str, message: str, *, retryable: bool = True) -> dict[str, Any]:
    """A settled attempt's error. ``retryable=False`` marks a failure that a retry would repeat —
    a job Databricks says does not exist, a reference that does not resolve — so the task fails
    without spending its retries (with ``max_retries: -1`` they would never end)."""
    error: dict[str, Any] = {"type": kind, "message": message}
    if not retryable:
        error["retryable"] = False
    return error


def _retryable(p: Promise) -> bool:
    """Whether the task's retry policy applies to ``p``'s failure (see :func:`attempt_error`). Read from the
    stored promise, so a re-drive after a crash decides as the first driver did."""
    return not (isinstance(p.error, dict) and p.error.get("retryable") is False)


def _keep_due(current: int | None, earliest: int, latest: int) -> int:
    """The ``due_at`` for a record whose next look may fall anywhere in [earliest, latest]:
    the one it has if that fits, else ``latest``. Every change of ``due_at`` moves the record
    in the store's due index (on DynamoDB an index delete and put), so keeping it is cheaper."""
    return current if current is not None and earliest <= current <= latest else latest
