"""Every state change, written: the machines decide, this module applies.

Each method is one conditional write (or one transaction) whose condition comes from the
machines' tables — ``promise_machine.TRANSITIONS``, ``task_machine.TRANSITIONS`` and
``task_machine.RUN_TRANSITIONS``: the states a record may be in for the change to be legal. No
other module calls a store's write methods for promises, tasks or runs, and the field setters
here refuse a ``state`` among their changes, so a state reaches the store only through a move the
machines allow (tests/core/test_architecture.py holds both).

A write whose condition fails raises ``StoreConflict`` carrying the current record, as the store
does; callers decide whether losing is fine (another caller moved the record on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lambda_resolver.core import promise_machine as pm
from lambda_resolver.core import task_machine as tm
from lambda_resolver.core.models import Promise, PromiseState, Run, RunState, Task, TaskState
from lambda_resolver.core.store import Store

if TYPE_CHECKING:
    from lambda_resolver.core.iterations import Iteration, Loop
    from lambda_resolver.core.schedule.machine import ScheduleRecord


class IllegalTransition(ValueError):
    """A move the machines do not allow: a defect in the caller, never an outcome of a race."""


def _fields_only(changes: Mapping[str, Any]) -> Mapping[str, Any]:
    if "state" in changes:
        raise IllegalTransition("a field update must not change the state; use a move")
    return changes


class Transitions:
    """The store's writes, each with the condition the machines give it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- promises -----------------------------------------------------------------------------
    def create_promise(self, promise: Promise) -> tuple[Promise, bool]:
        """Insert a promise unless its id exists (a new PENDING one, or one born settled)."""
        return self.store.create_promise(promise)

    def settle_promise(
        self,
        promise_id: str,
        target: PromiseState,
        changes: Mapping[str, Any],
        *,
        now: int,
        deadline: bool = True,
    ) -> Promise:
        """Settle a pending promise into ``target``. With ``deadline``, an outcome (not a
        timeout) lands only before the promise's deadline, and a timeout only at or after it."""
        if target is PromiseState.PENDING:
            raise IllegalTransition("a promise cannot be settled to PENDING")
        timeout = target is PromiseState.REJECTED_TIMEDOUT
        (source,) = pm.sources_of(target)
        return self.store.update_promise(
            promise_id,
            {**_fields_only(changes), "state": target.value, "settled_at": changes.get("settled_at", now)},
            expect_state=pm.unchanged(source),
            deadline_after=now if deadline and not timeout else None,
            deadline_at_or_before=now if deadline and timeout else None,
        )

    def set_promise_fields(
        self, promise_id: str, fields: Mapping[str, Any], *, while_in: PromiseState | None
    ) -> Promise:
        """Change fields of a promise (never its state) while it is in ``while_in`` (None: any)."""
        return self.store.update_promise(
            promise_id, _fields_only(fields), expect_state=pm.unchanged(while_in)
        )

    def extend_promise(self, promise_id: str, new_deadline: int, *, now: int) -> Promise:
        """Move a pending promise's deadline out; only before the current one has passed."""
        return self.store.update_promise(
            promise_id,
            {"timeout_at": new_deadline},
            expect_state=pm.unchanged(pm.EXTENDABLE),
            deadline_after=now,
        )

    # -- tasks ----------------------------------------------------------------------------------
    def move_task(self, t: Task, target: TaskState, changes: Mapping[str, Any]) -> Task:
        """Move ``t`` (as read) into ``target``, at its attempt. The move must be legal from the
        state it was read in; the write holds if the task is still in any state ``target`` may
        be reached from, at the same attempt (a RUNNING write racing a finish loses neither)."""
        if target not in tm.TRANSITIONS.get(t.state, frozenset()):
            raise IllegalTransition(f"task {t.key}: {t.state.value} → {target.value} is not a transition")
        return self.store.update_task(
            t.run_id,
            t.key,
            {**_fields_only(changes), "state": target.value},
            expect_states=tm.sources_of(target),
            expect_attempt=t.attempt,
        )

    def set_task_fields(
        self, run_id: str, key: str, fields: Mapping[str, Any], *, while_in: TaskState, attempt: int
    ) -> Task:
        """Change fields of a task (never its state) while it is in ``while_in`` at ``attempt``."""
        return self.store.update_task(
            run_id, key, _fields_only(fields), expect_states=tm.unchanged(while_in), expect_attempt=attempt
        )

    def deliver_edge(self, run_id: str, child: str, parent: str, outcome: str) -> tuple[Task, bool]:
        """Count ``parent``'s outcome down on ``child``, once per edge (no state changes)."""
        return self.store.deliver_edge(run_id, child, parent, outcome)

    def complete_propagation(self, run_id: str, key: str, *, leaf: str | None, failed: bool) -> Run | None:
        """Mark a finished task propagated and count a leaf off its run, exactly once."""
        return self.store.complete_propagation(run_id, key, leaf=leaf, failed=failed)

    # -- a task and its attempt's promise in one write ----------------------------------------------
    def _task_move(self, t: Task, target: TaskState, changes: Mapping[str, Any]) -> dict[str, Any]:
        if target not in tm.TRANSITIONS.get(t.state, frozenset()):
            raise IllegalTransition(f"task {t.key}: {t.state.value} → {target.value} is not a transition")
        return {**_fields_only(changes), "state": target.value}

    def claim(self, t: Task, changes: Mapping[str, Any], promise: Promise) -> tuple[Task, Promise]:
        """Claim ``t`` (→ TRIGGERING, as :meth:`move_task`) and create its new attempt's pending
        ``promise`` in the same write: exactly one caller wins the claim, and its attempt's
        promise exists from that moment."""
        target = TaskState.TRIGGERING
        return self.store.claim_task(
            t.run_id,
            t.key,
            self._task_move(t, target, changes),
            promise,
            expect_states=tm.sources_of(target),
            expect_attempt=t.attempt,
        )

    def deliver_and_claim(
        self,
        run_id: str,
        child: str,
        parent: str,
        outcome: str,
        *,
        changes: Mapping[str, Any],
        promise: Promise,
    ) -> tuple[Task, bool, Promise | None]:
        """Count ``parent``'s outcome down on ``child`` (as :meth:`deliver_edge`) and, when that
        was the one outcome a task as created waited for, claim it in the same write."""
        target = TaskState.TRIGGERING
        return self.store.deliver_and_claim(
            run_id,
            child,
            parent,
            outcome,
            changes={**_fields_only(changes), "state": target.value},
            promise=promise,
            expect_states=tm.sources_of(target),
        )

    def settle_and_finish(
        self,
        t: Task,
        settle: PromiseState,
        promise_changes: Mapping[str, Any],
        target: TaskState,
        task_changes: Mapping[str, Any],
        *,
        now: int,
    ) -> tuple[Task, Promise]:
        """Settle ``t``'s pending attempt promise into ``settle`` before its deadline (as
        :meth:`settle_promise`) and move ``t`` to the result it gives (as :meth:`move_task`), in
        one write: a callback's settle and its task's finish land together or not at all."""
        if settle in (PromiseState.PENDING, PromiseState.REJECTED_TIMEDOUT):
            raise IllegalTransition("settle and finish takes an outcome before the deadline")
        (source,) = pm.sources_of(settle)
        return self.store.update_attempt(
            t.run_id,
            t.key,
            self._task_move(t, target, task_changes),
            {**_fields_only(promise_changes), "state": settle.value, "settled_at": now},
            expect_states=tm.sources_of(target),
            expect_attempt=t.attempt,
            expect_promise=pm.unchanged(source),
            deadline_after=now,
        )

    def start_attempt(
        self, t: Task, promise_fields: Mapping[str, Any], task_changes: Mapping[str, Any]
    ) -> tuple[Task, Promise]:
        """Move ``t`` to RUNNING (as :meth:`move_task`) and note the started run on its attempt's
        promise whatever its state (as :meth:`set_promise_fields` with ``while_in=None``)."""
        target = TaskState.RUNNING
        return self.store.update_attempt(
            t.run_id,
            t.key,
            self._task_move(t, target, task_changes),
            _fields_only(promise_fields),
            expect_states=tm.sources_of(target),
            expect_attempt=t.attempt,
            expect_promise=pm.unchanged(None),
        )

    # -- runs -------------------------------------------------------------------------------------
    def create_run(self, run: Run, tasks: Sequence[Task]) -> tuple[Run, bool]:
        """Create a run and its WAITING tasks, idempotently (fills in tasks a crash left out)."""
        return self.store.create_run(run, tasks)

    def move_run(self, run_id: str, target: RunState, changes: Mapping[str, Any]) -> Run:
        """Move a run into ``target`` from any state the machine allows it from."""
        return self.store.update_run(
            run_id, {**_fields_only(changes), "state": target.value}, expect_states=tm.run_sources_of(target)
        )

    def request_stop(self, run_id: str, reason: str) -> Run:
        """Record that a run must stop (CANCELED or TIMEDOUT) while it has not ended."""
        return self.store.update_run(
            run_id, {"stop_reason": reason}, expect_states=tm.run_sources_of(RunState(reason))
        )

    # -- repairs (DESIGN §9) -------------------------------------------------------------------------
    def begin_repair(self, run_id: str, changes: Mapping[str, Any], *, repair_id_was: int | None) -> Run:
        """Move a final run back to RUNNING for a repair, its leaf counters set anew, only while
        no other repair came first: its ``latest_repair_id`` is still ``repair_id_was``."""
        target = RunState.RUNNING
        return self.store.begin_repair(
            run_id,
            {**_fields_only(changes), "state": target.value},
            expect_states=tm.repair_sources_of(target),
            expect_repair_id=repair_id_was,
        )

    def reset_task(
        self,
        run_id: str,
        key: str,
        was: TaskState,
        attempt: int,
        changes: Mapping[str, Any],
        *,
        drop_edges: Sequence[str],
    ) -> Task:
        """Send a finished task back to WAITING for a repair, while it is still in ``was`` at
        ``attempt`` (as the plan saw it), taking back the outcomes ``drop_edges`` delivered."""
        target = TaskState.WAITING
        if target not in tm.REPAIRS.get(was, frozenset()):
            raise IllegalTransition(f"task {key}: a repair cannot reset a {was.value} task")
        return self.store.reset_task(
            run_id,
            key,
            {**_fields_only(changes), "state": target.value},
            expect_states=tm.unchanged(was),
            expect_attempt=attempt,
            drop_edges=drop_edges,
        )

    def set_run_fields(self, run_id: str, fields: Mapping[str, Any], *, while_in: RunState) -> Run:
        """Change fields of a run (never its state) while it is in ``while_in``."""
        return self.store.update_run(run_id, _fields_only(fields), expect_states=tm.unchanged(while_in))

    # -- schedules ------------------------------------------------------------------------------
    def write_schedule(self, new: ScheduleRecord, read: ScheduleRecord | None) -> ScheduleRecord:
        """Write a schedule record the schedule machine decided from ``read`` (None: there was
        none), on condition that the stored record is still the one read (its ``ver``)."""
        return self.store.put_schedule(new, expect_ver=0 if read is None else read.ver)

    # -- for_each loops ------------------------------------------------------------------------
    def create_loop(self, loop: Loop) -> tuple[Loop, bool]:
        """Insert a for_each attempt's loop unless it exists (idempotent by run, task, attempt)."""
        return self.store.create_loop(loop)

    def claim_iteration(self, loop: Loop, iteration: Iteration, promise: Promise) -> Loop:
        """Claim the loop's next iteration (a free slot, not stopped) with its first try's promise:
        a new PENDING one, or one born REJECTED when it could never start."""
        from lambda_resolver.core.iterations import IterationState  # for_each flows only

        if iteration.state is not IterationState.RUNNING or promise.iteration != iteration.index:
            raise IllegalTransition(f"iteration {iteration.index}: a claim starts a RUNNING iteration")
        return self.store.claim_iteration(loop, iteration, promise)

    def finish_iteration(
        self, loop: Loop, index: int, *, promise_id: str, changes: Mapping[str, Any], retry: Promise | None
    ) -> Loop | None:
        """Move a RUNNING iteration on from its settled try ``promise_id``: to ``retry`` (still
        RUNNING), or to the final state in ``changes``, counted off the loop. Once."""
        from lambda_resolver.core.iterations import ENDED  # for_each flows only

        final = changes.get("state")
        if retry is None and final not in {s.value for s in ENDED}:
            raise IllegalTransition(f"iteration {index}: {final!r} is not a final iteration state")
        if retry is not None and final is not None:
            raise IllegalTransition(f"iteration {index}: a retry keeps the iteration RUNNING")
        return self.store.finish_iteration(loop, index, promise_id=promise_id, changes=changes, retry=retry)

    def stop_loop(self, run_id: str, task_key: str, attempt: int) -> Loop | None:
        """Claim nothing more in this loop (canceled, timed out); idempotent."""
        return self.store.stop_loop(run_id, task_key, attempt)
