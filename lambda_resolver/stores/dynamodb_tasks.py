"""The tasks of a run in DynamoDB: creation, listing, edge delivery and propagation.

Tasks live in their run's partition (``R#<run id>``/``T#<key>``), so a run's tasks are one
Query. ``waiting``, ``deps`` and ``propagated`` are top-level attributes that single
UpdateItems change in place (``deliver_edge``) or within a two-item transaction with the run's
leaf counters (``complete_propagation``): settling a task costs O(its out-degree) writes,
whatever the size of the flow.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TYPE_CHECKING

from lambda_resolver.core.errors import NotFound
from lambda_resolver.core.models import TERMINAL_TASK_STATES, Run, RunState, Task
from lambda_resolver.stores.dynamodb_codec import (
    flag,
    n,
    num,
    run_from_item,
    run_item,
    run_key,
    s,
    task_from_item,
    task_item,
    task_key,
)
from lambda_resolver.stores.dynamodb_schema import DUE_AT, DUE_PK, PK, RUNFLOWS_PK, SK
from lambda_resolver.stores.dynamodb_table import ConditionFailed, Expr, Table, TransactionCanceled, pause

if TYPE_CHECKING:
    from collections.abc import Sequence

_TERMINAL = sorted(st.value for st in TERMINAL_TASK_STATES)
_PARALLEL_PUTS = 16
_PROPAGATION_TRIES = 10


class RunTasks:
    """The run-and-task half of :class:`~lambda_resolver.stores.dynamodb.DynamoStore`."""

    _table: Table
    due_shards: int
    ttl_days: int

    def get_run(self, run_id: str) -> Run | None:
        item = self._table.get(run_key(run_id))
        return None if item is None else run_from_item(item)

    def create_run(self, run: Run, tasks: Sequence[Task]) -> tuple[Run, bool]:
        """The run item first (conditional), then each task by a conditional PutItem — not one
        transaction: a run may have more than 100 tasks, and a transactional write costs twice.
        A crash in between leaves a PENDING run with tasks missing; creating it again fills them
        in. Tasks are only created while the run is PENDING (the engine moves it on only after
        this returns), and a put never overwrites a task."""
        e = Expr()
        try:
            self._table.put(
                run_item(run, self.due_shards, self.ttl_days),
                condition=f"attribute_not_exists({e.n(PK)})",
                expr=e,
            )
            stored, created, have = run, True, set[str]()
        except ConditionFailed as dup:
            stored, created = run_from_item(self._table.existing(run_key(run.run_id), dup.item)), False
            if stored.state is not RunState.PENDING:
                return stored, False
            have = self._task_keys(run.run_id)
        self._note_flow(run.flow)
        missing = [(i, t) for i, t in enumerate(tasks) if t.key not in have]
        if len(missing) <= 4:
            for i, t in missing:
                self._put_task(t, i)
        else:  # one round trip each, so overlap them: a 10,000-task run starts in seconds
            with ThreadPoolExecutor(max_workers=_PARALLEL_PUTS) as pool:
                list(pool.map(lambda it: self._put_task(it[1], it[0]), missing))
        return stored, created

    def _note_flow(self, flow: str) -> None:
        """Record that ``flow`` has runs, once: history lists runs one flow partition at a time."""
        e = Expr()
        with suppress(ConditionFailed):
            self._table.put(
                {PK: s(RUNFLOWS_PK), SK: s(flow)}, condition=f"attribute_not_exists({e.n(PK)})", expr=e
            )

    def run_flows(self) -> list[str]:
        """Every flow that has runs (the ``RUNFLOWS`` items), by name."""
        e = Expr()
        items = self._table.query(
            KeyConditionExpression=f"{e.n(PK)} = {e.v(s(RUNFLOWS_PK))}",
            ConsistentRead=True,
            ProjectionExpression=e.n(SK),
            **e.kwargs(),
        )
        return [item[SK]["S"] for item in items]

    def _put_task(self, task: Task, order: int) -> None:
        e = Expr()
        with suppress(ConditionFailed):  # a concurrent create of the same run put it first
            self._table.put(
                task_item(task, order, self.due_shards, self.ttl_days),
                condition=f"attribute_not_exists({e.n(PK)})",  # never overwrite a task
                expr=e,
            )

    def _task_keys(self, run_id: str) -> set[str]:
        e = Expr()
        items = self._table.query(
            KeyConditionExpression=f"{e.n(PK)} = {e.v(s(f'R#{run_id}'))} AND "
            f"begins_with({e.n(SK)}, {e.v(s('T#'))})",
            ProjectionExpression=e.n(SK),
            ConsistentRead=True,
            **e.kwargs(),
        )
        return {it[SK]["S"][2:] for it in items}

    def get_task(self, run_id: str, key: str) -> Task | None:
        item = self._table.get(task_key(run_id, key))
        return None if item is None else task_from_item(item)

    def list_tasks(self, run_id: str) -> list[Task]:
        """Every task of the run, in creation (manifest) order: one paginated Query."""
        e = Expr()
        items = self._table.query(
            KeyConditionExpression=f"{e.n(PK)} = {e.v(s(f'R#{run_id}'))} AND "
            f"begins_with({e.n(SK)}, {e.v(s('T#'))})",
            ConsistentRead=True,
            **e.kwargs(),
        )
        return [task_from_item(it) for it in sorted(items, key=lambda it: num(it, "ord") or 0)]

    def deliver_edge(self, run_id: str, child: str, parent: str, outcome: str) -> tuple[Task, bool]:
        """One UpdateItem: record ``deps[parent]`` and count ``waiting`` down, on the condition
        that ``deps[parent]`` is absent — so once per (child, parent), however often delivered.
        ``doc`` is not rewritten (``waiting``/``deps`` live outside it), so ``ver`` stays."""
        e = Expr()
        edge = f"{e.n('deps')}.{e.n(parent)}"
        update = f"SET {edge} = {e.v(s(outcome))} ADD {e.n('waiting')} {e.v(n(-1))}"
        condition = f"attribute_exists({e.n(PK)}) AND attribute_not_exists({edge})"
        try:
            return task_from_item(
                self._table.update(task_key(run_id, child), update, condition=condition, expr=e)
            ), True
        except ConditionFailed as lost:
            if lost.item is None:
                raise NotFound(f"task '{child}' of run '{run_id}' does not exist") from None
            return task_from_item(lost.item), False

    def complete_propagation(self, run_id: str, key: str, *, leaf: str | None, failed: bool) -> Run | None:
        """Mark the finished task propagated (condition: terminal and not yet propagated) and, for
        a leaf or a failure, move the run's counters in the same transaction. The counters are
        ADDs and ``any_failed`` only ever becomes true, so the run needs no read first.

        A transaction that keeps conflicting (or being throttled) is left undone and None is
        returned, as if it had been done already: the task stays finished, unpropagated and due,
        so the reconciler completes it after the propagation grace — as after a crash here. The
        settle that got here was applied, and must not answer otherwise."""
        for attempt in range(_PROPAGATION_TRIES):
            if leaf is None and not failed:
                return self.get_run(run_id) if self._mark_propagated(run_id, key) else None
            te = Expr()
            task_set, task_condition = self._propagated(te)
            task_update = {
                "Key": task_key(run_id, key),
                "UpdateExpression": task_set,
                "ConditionExpression": task_condition,
                **te.kwargs(),
            }
            e = Expr()
            adds = []
            if leaf is not None:
                adds.append(f"{e.n('open_leaves')} {e.v(n(-1))}")
                if leaf in ("failed", "canceled"):
                    adds.append(f"{e.n(leaf + '_leaves')} {e.v(n(1))}")
            update = ("ADD " + ", ".join(adds) if adds else "") + (
                f" SET {e.n('any_failed')} = {e.v(flag(True))}" if failed else ""
            )
            run_update = {
                "Key": run_key(run_id),
                "UpdateExpression": update.strip(),
                "ConditionExpression": f"attribute_exists({e.n(PK)})",
                **e.kwargs(),
            }
            try:
                self._table.transact([{"Update": task_update}, {"Update": run_update}])
                return self.get_run(run_id)
            except TransactionCanceled as canceled:
                task_reason, run_reason = [*canceled.reasons, "None", "None"][:2]
                if task_reason == "ConditionalCheckFailed":
                    return None  # already propagated (or not finished): exactly once
                if run_reason == "ConditionalCheckFailed":  # no such run: nothing to count on
                    self._mark_propagated(run_id, key)
                    return None
                if not canceled.retryable:
                    raise
                pause(attempt)  # a conflicting transaction or throttling: try again
        return None

    @staticmethod
    def _propagated(e: Expr) -> tuple[str, str]:
        """The task half of complete_propagation: (update, condition). It bumps ``ver`` because
        update_task rewrites ``propagated`` too, and must then decide again."""
        update = (
            f"SET {e.n('propagated')} = {e.v(flag(True))} REMOVE {e.n(DUE_PK)}, {e.n(DUE_AT)} "
            f"ADD {e.n('ver')} {e.v(n(1))}"
        )
        condition = (
            f"attribute_exists({e.n(PK)}) AND {e.n('propagated')} = {e.v(flag(False))} AND "
            f"{e.n('state')} IN ({', '.join(e.v(s(x)) for x in _TERMINAL)})"
        )
        return update, condition

    def _mark_propagated(self, run_id: str, key: str) -> bool:
        e = Expr()
        update, condition = self._propagated(e)
        try:
            self._table.update(task_key(run_id, key), update, condition=condition, expr=e)
            return True
        except ConditionFailed:
            return False
