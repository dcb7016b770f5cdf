"""Event-local advancing: drive one task of a run forward from whatever state it is in.

Every signal (a callback, a webhook, the reconciler, a start) ends in :meth:`Advancer.drive`,
which looks at the stored task and pushes it on with conditional writes. Driving is idempotent
and safe to repeat or to run concurrently: a caller that loses a conditional write stops, and
the winner carries on. Settling a task touches only its dependents — O(out-degree) store
operations — and never scans the run.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lambda_resolver.core import attempts, fanout, notifications, repair_plan
from lambda_resolver.core import task_machine as tm
from lambda_resolver.core.context import Context, log
from lambda_resolver.core.errors import LaunchError, StoreConflict
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


class Moved(NamedTuple):
    """A task as the move that returned it left it: the next step starts from it instead of
    reading it again. ``claimed``: the move was a claim, whose attempt's promise is ``promise``
    (None: it has none yet)."""

    task: Task
    claimed: bool = False
    promise: Promise | None = None


class Started(NamedTuple):
    """An attempt whose run-now answered, its move to RUNNING still to write
    (:meth:`Advancer.mark_running`). A wide fan-out writes these once every child it claimed has
    had its run-now, so the last child starts sooner (:mod:`.fanout`); until then the task is
    TRIGGERING and due, and a re-drive asks run-now again with the same token."""

    task: Task
    promise: Promise
    run_id: int
    url: str | None


Next = list["str | Moved | Started"]  # what to look at next: a task key to read, a task just
# written, or a started attempt to mark RUNNING


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

    def drive_from(self, run: Run, manifest: FlowManifest, task: Task) -> None:
        """:meth:`drive`, starting from ``task`` as a write just left it (not read again)."""
        self._loop(run, manifest, [Moved(task)], {})

    def _loop(
        self,
        run: Run,
        manifest: FlowManifest,
        work: Next,
        known: dict[str, Promise | None],
        marks: list[Started] | None = None,
    ) -> None:
        finished: list[Task] = []
        while work:
            item = work.pop()
            if isinstance(item, Started):
                if marks is not None:  # the caller writes it later (see Started)
                    marks.append(item)
                else:
                    work.extend(self.mark_running(item.task, item.promise, item.run_id, item.url))
                continue
            if isinstance(item, Moved):
                task: Task | None = item.task
                if item.claimed and item.task.promise_id:
                    known[item.task.promise_id] = item.promise
            else:
                task = self.ctx.store.get_task(run.run_id, item)
            if task is None:
                log.error("run %s has no task %s", run.run_id, item)
                continue
            work.extend(self.step(run, manifest, task, known, finished))
        for t in finished:
            self._complete(run, manifest, t)

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
            return self._claim(spec, t, t.attempt + 1) if (t.due_at or 0) <= self.ctx.now() else []
        if not t.propagated:
            ready, whole = fanout.propagate(self, run, manifest, t)
            if whole:  # else the invocation of its last chunk counts it off
                finished.append(t)
            return ready
        return []

    # -- WAITING → TRIGGERING | skipped ---------------------------------------------------------
    def _evaluate(self, run: Run, spec: TaskSpec, t: Task) -> Next:
        if run.stop_reason:
            return self._move(t, T.CANCELED, {"settled_at": self.ctx.now()})
        target = tm.evaluate(spec.run_if, (tm.EdgeOutcome(o) for o in t.deps.values()))
        if target is T.TRIGGERING:
            return self._claim(spec, t, t.retry_base + 1)  # a repaired task's attempts continue
        return self._move(t, target, {"settled_at": self.ctx.now()})

    def _claim(self, spec: TaskSpec, t: Task, attempt: int) -> Next:
        """The claim: one conditional write, which also creates the attempt's promise; exactly
        one caller wins it and starts the attempt."""
        now, settings = self.ctx.now(), self.ctx.settings
        promise = attempts.attempt_promise(t, spec, attempt, now, settings)
        try:
            claimed, p = self.ctx.writes.claim(t, attempts.claim_changes(t, attempt, now, settings), promise)
        except StoreConflict:
            return []  # another caller claimed it
        self.ctx.event("task_claimed", {"run_id": t.run_id, "task_key": t.key, "attempt": attempt})
        return [Moved(claimed, claimed=True, promise=p)]

    # -- TRIGGERING → RUNNING ----------------------------------------------------------------------
    def _launch(self, run: Run, manifest: FlowManifest, spec: TaskSpec, t: Task, p: Promise | None) -> Next:
        """Let the task's kind start the attempt; its promise is created first if a claim of a
        previous version left it without one."""
        ctx = self.ctx
        assert t.promise_id is not None
        if p is None:
            p, _ = ctx.writes.create_promise(
                attempts.attempt_promise(t, spec, t.attempt, ctx.now(), ctx.settings).replace(id=t.promise_id)
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
        now = ctx.now()
        if run_id is None:
            due = p.timeout_at  # an external task: nothing to re-read, wait for its deadline
        else:  # the claim's deadline serves if it is no later than the next check would be
            due = attempts.keep_due(t.due_at, now, now + ctx.settings.check_interval_ms)
            due = min(due, p.timeout_at)
        changes: dict[str, Any] = {"due_at": due}
        running: Task | None = None
        if run_id is not None:
            fields = {"databricks_run_id": run_id, "run_page_url": url}
            changes.update(fields)
            try:  # the run noted on the task and on its promise in one write
                running, p = ctx.writes.start_attempt(t, fields, changes)
            except StoreConflict:  # the attempt moved on meanwhile: note the run on its promise
                p = ctx.writes.set_promise_fields(p.id, fields, while_in=None)
            if p.state in (PromiseState.REJECTED_CANCELED, PromiseState.REJECTED_TIMEDOUT):
                # Canceled or timed out while run-now was in flight: stop the run we just started.
                self.cancel_databricks(run_id)
        if running is None:
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
        kind_of(spec).after_finish(self, spec, t, p)
        state, changes = attempts.finish_plan(spec, t, p, now, ctx.settings)
        try:
            done = ctx.writes.move_task(t, state, changes)
        except StoreConflict:
            return []
        ctx.event(
            "task_finished",
            {"run_id": t.run_id, "task_key": t.key, "attempt": t.attempt, "state": state.value},
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
    # A finished task's outcome goes to its dependents — O(out-degree) — in bounded chunks, side
    # by side, the rest handed to other invocations (core/fanout.py); the last chunk counts it off.
    def deliver(self, run: Run, manifest: FlowManifest, t: Task, child: str) -> Next:
        """Deliver ``t``'s outcome to ``child`` and claim (or skip) it if ready (:mod:`.fanout`)."""
        return self._deliver(run, manifest, t, child)

    def run_loop(
        self, run: Run, manifest: FlowManifest, work: Next, marks: list[Started] | None = None
    ) -> None:
        """Step ``work`` and what it makes ready until nothing moves (:mod:`.fanout`); with
        ``marks``, started attempts are left there for the caller to mark RUNNING."""
        self._loop(run, manifest, work, {}, marks)

    def started(self, t: Task, p: Promise, run_id: int, url: str | None) -> Next:
        """An attempt's run-now answered with ``run_id``: mark it RUNNING next (see Started)."""
        return [Started(t, p, run_id, url)]

    def count_off(self, run: Run, manifest: FlowManifest, t: Task) -> None:
        """Count a task whose every edge was delivered off as propagated (:mod:`.fanout`)."""
        self._complete(run, manifest, t)

    def _deliver(self, run: Run, manifest: FlowManifest, t: Task, child: str) -> Next:
        """Deliver ``t``'s outcome to ``child``; claim (or skip) it if that was its last one."""
        spec = manifest.task(child)
        dep = next(d for d in spec.depends_on if d.task_key == t.key)
        outcome = tm.edge_outcome(t, dep)
        if (
            len(spec.depends_on) == 1
            and not run.stop_reason
            and tm.evaluate(spec.run_if, [outcome]) is T.TRIGGERING
        ):
            return self._deliver_and_claim(run, spec, t, outcome.value)
        c, _ = self.ctx.writes.deliver_edge(run.run_id, child, t.key, outcome.value)
        if c.state is T.WAITING and c.waiting <= 0:
            # Claim (or skip) before this task counts as propagated, so a crash here leaves
            # the work findable: either this task is still due, or the child is claimed.
            # The claim is conditional: of all parents finishing at once, exactly one wins.
            return self._evaluate(run, spec, c)
        return []

    def _deliver_and_claim(self, run: Run, spec: TaskSpec, t: Task, outcome: str) -> Next:
        """Deliver the one outcome a task with one dependency waits for, and claim it in the same
        write when it is still as created (its first attempt); otherwise go on as a delivery."""
        now, settings = self.ctx.now(), self.ctx.settings
        fresh = Task(run.run_id, spec.key, T.WAITING, len(spec.depends_on))
        c, _, p = self.ctx.writes.deliver_and_claim(
            run.run_id,
            spec.key,
            t.key,
            outcome,
            changes=attempts.claim_changes(fresh, 1, now, settings),
            promise=attempts.attempt_promise(fresh, spec, 1, now, settings),
        )
        if p is not None:
            self.ctx.event("task_claimed", {"run_id": c.run_id, "task_key": c.key, "attempt": c.attempt})
            return [Moved(c, claimed=True, promise=p)]
        return self._evaluate(run, spec, c) if c.state is T.WAITING and c.waiting <= 0 else []

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
