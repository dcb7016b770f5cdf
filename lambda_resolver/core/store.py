"""The store protocol: the only way the engine reads or changes state.

Every method that changes state is one conditional write or one transaction; the condition
is the ``expect_*`` arguments (the ``from`` side of a state-machine transition). A write whose
condition fails raises :class:`~lambda_resolver.core.errors.StoreConflict` carrying the current
record, so a caller that lost a race learns the winner without a second read.

Two implementations pass the one contract suite in ``tests/stores``: SQLite (the embedded
default) and DynamoDB (production).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import (
    DueItem,
    Promise,
    PromiseState,
    Run,
    RunState,
    Task,
    TaskState,
)

if TYPE_CHECKING:  # loops and schedules are imported by the flows that have them, not by every store
    from lambda_resolver.core.iterations import Iteration, Loop
    from lambda_resolver.core.schedule.machine import ScheduleRecord


class IterationStore(Protocol):
    """The store methods of for_each loops (part of :class:`Store`)."""

    def create_loop(self, loop: Loop) -> tuple[Loop, bool]:
        """Insert ``loop`` unless one exists for its (run, task, attempt). Returns (stored, created)."""
        ...

    def get_loop(self, run_id: str, task_key: str, attempt: int) -> Loop | None: ...

    def claim_iteration(self, loop: Loop, iteration: Iteration, promise: Promise) -> Loop:
        """Claim iteration ``iteration.index`` — if it is the loop's ``next``, fewer than
        ``concurrency`` are active and the loop is not stopped — and, in the same transaction,
        store its record and its first promise. Returns the loop after the write; raises
        StoreConflict(current loop) if the condition fails."""
        ...

    def get_iteration(self, run_id: str, task_key: str, attempt: int, index: int) -> Iteration | None: ...

    def finish_iteration(
        self,
        loop: Loop,
        index: int,
        *,
        promise_id: str,
        changes: Mapping[str, Any],
        retry: Promise | None = None,
    ) -> Loop | None:
        """Move iteration ``index`` on from its settled promise ``promise_id``, once: only while it
        is RUNNING on that promise. With ``retry``, it stays RUNNING on that new promise (created in
        the same transaction); otherwise ``changes`` carries its final ``state`` and, in the same
        transaction, the loop counts it ended (``active`` -1, ``ended[state]`` +1). Returns the
        loop after the write, or None if the iteration had already moved on."""
        ...

    def stop_loop(self, run_id: str, task_key: str, attempt: int) -> Loop | None:
        """Mark the loop stopped (claim nothing more); idempotent. None if there is no loop."""
        ...

    def list_iterations(
        self, run_id: str, task_key: str, attempt: int, *, start: int = 0, limit: int = 100
    ) -> Sequence[Iteration]:
        """Up to ``limit`` claimed iterations with index >= ``start``, by index (a range read)."""
        ...


class Store(IterationStore, Protocol):
    """Durable state for promises, flows, runs and tasks (and for_each loops: IterationStore)."""

    # -- promises ---------------------------------------------------------------------------
    def create_promise(self, promise: Promise) -> tuple[Promise, bool]:
        """Insert ``promise`` unless its id exists. Returns (stored promise, created)."""
        ...

    def get_promise(self, promise_id: str) -> Promise | None: ...

    def update_promise(
        self,
        promise_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: PromiseState | None = PromiseState.PENDING,
        deadline_after: int | None = None,
        deadline_at_or_before: int | None = None,
    ) -> Promise:
        """Apply ``changes`` if the promise is in ``expect_state`` (None: any) and its
        ``timeout_at`` is after / at-or-before the given instants. Returns the new promise.
        Raises NotFound if absent, StoreConflict(current) if the condition fails."""
        ...

    def promise_by_databricks_run(self, databricks_run_id: int) -> Promise | None:
        """The promise whose attempt started Databricks run ``databricks_run_id`` (webhooks)."""
        ...

    # -- flows ------------------------------------------------------------------------------
    def put_flow(self, manifest: FlowManifest) -> FlowManifest:
        """Store ``manifest`` as the flow's next version (1, 2, ...). Returns it with its version."""
        ...

    def get_flow(self, name: str, version: int | None = None) -> FlowManifest | None:
        """A given version, or the latest."""
        ...

    def list_flows(self) -> list[FlowManifest]:
        """The latest version of every flow."""
        ...

    # -- runs -------------------------------------------------------------------------------
    def create_run(self, run: Run, tasks: Sequence[Task]) -> tuple[Run, bool]:
        """Create a run and all its tasks, idempotently. Returns (stored run, created).

        If the run exists in state PENDING with tasks missing (a crash mid-create), the missing
        tasks are created and ``created`` is False."""
        ...

    def get_run(self, run_id: str) -> Run | None: ...

    def list_runs(
        self,
        *,
        flow: str | None = None,
        state: RunState | None = None,
        limit: int = 100,
        before: tuple[int, str] | None = None,
    ) -> list[Run]:
        """Up to ``limit`` runs, newest first (by creation time, then run id), only those older
        than ``before`` (created_at, run_id) when given. An index query per flow, never a scan:
        the requests for one flow's page do not grow with the runs of other flows."""
        ...

    def update_run(
        self, run_id: str, changes: Mapping[str, Any], *, expect_states: Collection[RunState]
    ) -> Run:
        """Apply ``changes`` if the run is in one of ``expect_states``."""
        ...

    def begin_repair(
        self,
        run_id: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[RunState],
        expect_repair_id: int | None,
    ) -> Run:
        """Apply ``changes`` — the leaf counters among them — if the run is in one of
        ``expect_states`` and its ``latest_repair_id`` is ``expect_repair_id`` (None: never
        repaired). A repair's first write: of two repairs at once, one wins."""
        ...

    # -- tasks ------------------------------------------------------------------------------
    def get_task(self, run_id: str, key: str) -> Task | None: ...

    def list_tasks(self, run_id: str) -> list[Task]:
        """Every task of a run (run documents and cancellation only; never on a settle)."""
        ...

    def update_task(
        self,
        run_id: str,
        key: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int | None = None,
    ) -> Task:
        """Apply ``changes`` if the task is in one of ``expect_states`` (and at ``expect_attempt``)."""
        ...

    def reset_task(
        self,
        run_id: str,
        key: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int,
        drop_edges: Collection[str],
    ) -> Task:
        """Apply ``changes`` if the task is in one of ``expect_states`` at ``expect_attempt`` and,
        in the same write, take back the edges delivered by the parents in ``drop_edges``: each
        one taken back counts ``waiting`` up by one (a parent that never delivered is left)."""
        ...

    def deliver_edge(self, run_id: str, child: str, parent: str, outcome: str) -> tuple[Task, bool]:
        """Record that ``parent`` finished with ``outcome`` for ``child`` and count it down in
        ``child.waiting`` — once per (child, parent), whoever delivers it and however often.
        Returns (child after the write, delivered now)."""
        ...

    def complete_propagation(self, run_id: str, key: str, *, leaf: str | None, failed: bool) -> Run | None:
        """Mark a finished task's propagation done; in the same transaction, if it is a leaf,
        count it off the run (``open_leaves`` -1, and ``failed_leaves``/``canceled_leaves`` by
        ``leaf``), and if it ``failed`` set the run's ``any_failed``. Exactly once per task.
        Returns the run after the write, or None if it was already done."""
        ...

    # -- a task and its attempt's promise, changed together ------------------------------------
    def read_attempt(self, promise_id: str) -> tuple[Promise, Task, Run] | None:
        """The promise ``promise_id`` with its task and the task's run, in one round trip, when
        it is its task's current attempt (``task.promise_id``); None otherwise (a standalone
        promise, an earlier attempt, a record a previous version kept apart): use get_promise."""
        ...

    def claim_task(
        self,
        run_id: str,
        key: str,
        changes: Mapping[str, Any],
        promise: Promise,
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int,
    ) -> tuple[Task, Promise]:
        """``update_task`` and, in the same write, create the claimed attempt's ``promise`` (one
        that exists already is kept). Returns (task, stored promise)."""
        ...

    def update_attempt(
        self,
        run_id: str,
        key: str,
        task_changes: Mapping[str, Any],
        promise_changes: Mapping[str, Any],
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int,
        expect_promise: PromiseState | None,
        deadline_after: int | None = None,
        deadline_at_or_before: int | None = None,
    ) -> tuple[Task, Promise]:
        """``update_task`` and ``update_promise`` of the task's current promise in one write,
        both conditions holding. StoreConflict(current task) if either fails — or if the store
        keeps this promise apart from its task (a record of a previous version): the caller
        then makes the two changes one at a time."""
        ...

    def deliver_and_claim(
        self,
        run_id: str,
        child: str,
        parent: str,
        outcome: str,
        *,
        changes: Mapping[str, Any],
        promise: Promise,
        expect_states: Collection[TaskState],
    ) -> tuple[Task, bool, Promise | None]:
        """``deliver_edge`` and, in the same write, if the child is then exactly as created but
        for this one outcome (a task with one dependency, never changed) and in one of
        ``expect_states``, claim it: ``changes`` and its attempt's ``promise``, as claim_task.
        Returns (child after, delivered now, the promise if it was claimed now)."""
        ...

    # -- concurrency slots (max_concurrent_runs) ---------------------------------------------
    def acquire_slot(self, flow: str, run_id: str, limit: int) -> bool:
        """Take one of ``limit`` slots of ``flow`` for ``run_id`` (idempotent per run)."""
        ...

    def release_slot(self, flow: str, run_id: str) -> None: ...

    def slot_holders(self, flow: str) -> list[str]:
        """The runs holding slots of ``flow`` (to free slots of runs that ended in a crash)."""
        ...

    # -- schedules ------------------------------------------------------------------------------
    def get_schedule(self, flow: str) -> ScheduleRecord | None:
        """A flow's schedule record, or None if it never had a schedule."""
        ...

    def list_schedules(self) -> list[ScheduleRecord]:
        """Every schedule record, by flow (one partition: as many items as flows with a schedule)."""
        ...

    def put_schedule(self, record: ScheduleRecord, *, expect_ver: int) -> ScheduleRecord:
        """Write ``record`` as version ``expect_ver + 1`` if the stored one is still at ``expect_ver``
        (0: none is stored). Its ``due_at`` goes into the due index (kind "schedule"). Returns the
        stored record; StoreConflict(current record, or None) if the condition fails."""
        ...

    # -- the reconciler's index ---------------------------------------------------------------
    def due(self, now: int, limit: int = 100) -> list[DueItem]:
        """Records whose ``due_at`` is at or before ``now``, earliest first. An index query,
        never a scan of the data."""
        ...
