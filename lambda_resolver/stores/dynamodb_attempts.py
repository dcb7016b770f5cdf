"""Promises in DynamoDB, and a task's attempt kept in its task item.

A task's current attempt's promise lives inside the task item (``R#<run>``/``T#<key>``): its
state, deadline and document in ``p_state``, ``p_timeout_at`` and ``p_doc``, and the
Databricks run id it started in ``dbx_run_id`` (the ``dbx`` index, for webhooks). So the claim
that starts an attempt also creates its promise, and a callback's settle finishes the task, each
in one UpdateItem; one BatchGetItem reads a callback's promise, task and run. A promise id
``<run>.<task>.<attempt>`` resolves to that item while the item holds that attempt.

Other promises are items of their own (``P#<id>``/``P``): standalone promises, an earlier
attempt's (moved out of the task item, in one transaction with the claim of the next
attempt: retries and repairs only), and those a previous version kept apart — every read and
write falls back to them, so a run in flight across an upgrade settles as it would have.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.ids import parse_task_promise_id
from lambda_resolver.core.models import Promise, PromiseState, Run, Task, TaskState, from_doc, to_doc
from lambda_resolver.stores.dynamodb_codec import (
    expiry,
    n,
    num,
    plain,
    promise_from_item,
    promise_item,
    promise_key,
    run_from_item,
    run_key,
    s,
    task_from_item,
    task_key,
    task_writes,
)
from lambda_resolver.stores.dynamodb_embedded import (
    embedded_promise,
    embedded_writes,
    home,
    promise_condition,
    promise_holds,
    task_condition,
)
from lambda_resolver.stores.dynamodb_schema import DBX_INDEX, DBX_RUN_ID, PK, SK, TTL_ATTR
from lambda_resolver.stores.dynamodb_table import ConditionFailed, Expr, Table, TransactionCanceled

if TYPE_CHECKING:
    pass

_TRIES = 10
Check = Callable[[Task, "Promise | None"], bool]


class _Apart(Exception):
    """The promise is not the one the task item holds: it is an item of its own."""


class AttemptItems:
    """The promise half of :class:`~lambda_resolver.stores.dynamodb.DynamoStore`."""

    _table: Table
    due_shards: int
    ttl_days: int

    def _update_promise_item(
        self,
        promise_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: PromiseState | None,
        deadline_after: int | None,
        deadline_at_or_before: int | None,
    ) -> Promise:
        raise NotImplementedError  # DynamoStore: a promise kept as its own item

    def deliver_edge(self, run_id: str, child: str, parent: str, outcome: str) -> tuple[Task, bool]:
        raise NotImplementedError  # RunTasks

    def create_promise(self, promise: Promise) -> tuple[Promise, bool]:
        raise NotImplementedError  # DynamoStore

    # -- reads ------------------------------------------------------------------------------------
    def get_promise(self, promise_id: str) -> Promise | None:
        parsed = parse_task_promise_id(promise_id)
        if parsed is not None:
            item = self._table.get(task_key(parsed[0], parsed[1]))
            p = None if item is None else embedded_promise(item)
            if p is not None and p.id == promise_id:
                return p
        item = self._table.get(promise_key(promise_id))
        return None if item is None else promise_from_item(item)

    def read_attempt(self, promise_id: str) -> tuple[Promise, Task, Run] | None:
        parsed = parse_task_promise_id(promise_id)
        if parsed is None:
            return None
        keys = [task_key(parsed[0], parsed[1]), run_key(parsed[0])]
        items = {item[SK]["S"]: item for item in self._table.batch_get(keys)}
        for key in keys:  # a write that follows starts from these (Table.recent)
            self._table.remember(key, items.get(key[SK]["S"]))
        task_item, run_item = items.get(keys[0][SK]["S"]), items.get("R")
        if task_item is None or run_item is None:
            return None
        p, t = embedded_promise(task_item), task_from_item(task_item)
        if p is None or p.id != promise_id or t.promise_id != promise_id:
            return None
        return p, t, run_from_item(run_item)

    def promise_by_databricks_run(self, databricks_run_id: int) -> Promise | None:
        e = Expr()
        hits = self._table.query(
            IndexName=DBX_INDEX,
            KeyConditionExpression=f"{e.n(DBX_RUN_ID)} = {e.v(n(databricks_run_id))}",
            **e.kwargs(),
        )
        found: list[Promise] = []
        for hit in hits:
            item = self._table.get({PK: hit[PK], SK: hit[SK]})
            if item is None:
                continue
            p = promise_from_item(item) if hit[PK]["S"].startswith("P#") else embedded_promise(item)
            if p is not None and p.databricks_run_id == databricks_run_id:
                found.append(p)
        # one attempt starts one Databricks run; should two claim it, the newest wins (as in SQLite)
        return max(found, key=lambda p: p.created_at, default=None)

    # -- writes -----------------------------------------------------------------------------------
    def update_promise(
        self,
        promise_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: PromiseState | None = PromiseState.PENDING,
        deadline_after: int | None = None,
        deadline_at_or_before: int | None = None,
    ) -> Promise:
        parsed = parse_task_promise_id(promise_id)
        if parsed is not None:
            try:
                _, p = self._rewrite_attempt(
                    parsed[0],
                    parsed[1],
                    promise_id=promise_id,
                    promise_changes=changes,
                    check=lambda t, p: (
                        p is not None
                        and promise_holds(p, expect_state, deadline_after, deadline_at_or_before)
                    ),
                    condition=lambda e: promise_condition(
                        e, expect_state, deadline_after, deadline_at_or_before
                    ),
                )
                assert p is not None
                return p
            except (_Apart, NotFound):
                pass
        return self._update_promise_item(
            promise_id,
            changes,
            expect_state=expect_state,
            deadline_after=deadline_after,
            deadline_at_or_before=deadline_at_or_before,
        )

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
        states = {TaskState(x).value for x in expect_states}
        embed = home(promise) == (run_id, key)
        t, p = self._rewrite_attempt(
            run_id,
            key,
            task_changes=changes,
            new_promise=promise if embed else None,
            check=lambda t, p: t.state.value in states and t.attempt == expect_attempt,
            condition=lambda e: task_condition(e, states, expect_attempt),
        )
        if embed and p is not None:
            return t, p
        # An id that does not name its task (a long key's digest): the promise is its own item,
        # created after the claim as a previous version did; a crash between leaves a claim
        # without a promise, which its launch creates.
        stored, _ = self.create_promise(promise)
        return t, stored

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
        states = {TaskState(x).value for x in expect_states}

        def check(t: Task, p: Promise | None) -> bool:
            return (
                t.state.value in states
                and t.attempt == expect_attempt
                and p is not None
                and p.id == t.promise_id
                and promise_holds(p, expect_promise, deadline_after, deadline_at_or_before)
            )

        def condition(e: Expr) -> str:
            return (
                f"{task_condition(e, states, expect_attempt)} AND "
                f"{promise_condition(e, expect_promise, deadline_after, deadline_at_or_before)}"
            )

        t, p = self._rewrite_attempt(
            run_id,
            key,
            task_changes=task_changes,
            promise_changes=promise_changes,
            check=check,
            condition=condition,
        )
        assert p is not None
        return t, p

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
        """One UpdateItem: the edge as :meth:`deliver_edge` does it, and the claim, on the
        condition that the item is as ``create_run`` put it (its ``doc`` the one a new task has,
        never rewritten) and waits for this one outcome alone. Otherwise a plain delivery."""
        created = Task(run_id, child, TaskState.WAITING, 1)
        after = from_doc(Task, {**to_doc(created), "waiting": 0, "deps": {parent: outcome}, **plain(changes)})
        states = sorted({TaskState(x).value for x in expect_states} & {TaskState.WAITING.value})
        if home(promise) != (run_id, child) or not states:
            return (*self.deliver_edge(run_id, child, parent, outcome), None)
        writes = {**task_writes(after, self.due_shards), **embedded_writes(promise)}
        e = Expr()
        edge = f"{e.n('deps')}.{e.n(parent)}"
        sets = [f"{edge} = {e.v(s(outcome))}"]
        sets += [f"{e.n(a)} = {e.v(v)}" for a, v in writes.items() if v is not None]
        update = f"SET {', '.join(sets)} ADD {e.n('waiting')} {e.v(n(-1))}, {e.n('ver')} {e.v(n(1))}"
        fresh_doc = task_writes(created, self.due_shards)["doc"]
        condition = (
            f"attribute_exists({e.n(PK)}) AND attribute_not_exists({edge}) AND "
            f"{e.n('state')} = {e.v(s(states[0]))} AND {e.n('attempt')} = {e.v(n(0))} AND "
            f"{e.n('waiting')} = {e.v(n(1))} AND size({e.n('deps')}) = {e.v(n(0))} AND "
            f"{e.n('doc')} = {e.v(fresh_doc)} AND attribute_not_exists({e.n('p_doc')})"
        )
        try:
            item = self._table.update(task_key(run_id, child), update, condition=condition, expr=e)
        except ConditionFailed as lost:
            if lost.item is None:
                raise NotFound(f"task '{child}' of run '{run_id}' does not exist") from None
            current = task_from_item(lost.item)
            if parent in current.deps:
                return current, False, None
            return (*self.deliver_edge(run_id, child, parent, outcome), None)
        return task_from_item(item), True, embedded_promise(item)

    # -- the one way an attempt item changes ------------------------------------------------------
    def _rewrite_attempt(
        self,
        run_id: str,
        key: str,
        *,
        check: Check,
        condition: Callable[[Expr], str],
        task_changes: Mapping[str, Any] | None = None,
        promise_id: str | None = None,
        promise_changes: Mapping[str, Any] | None = None,
        new_promise: Promise | None = None,
    ) -> tuple[Task, Promise | None]:
        """Change the task item at (run, key) — its task, its promise, or both — if ``check``
        holds (``condition`` is the same test as an expression), optimistically on ``ver`` as
        ``DynamoStore._rewrite``. ``promise_id``: the change is to that promise, which the item
        must hold (_Apart otherwise). ``new_promise``: the item takes it as its attempt's,
        moving the one it held to an item of its own in the same transaction."""
        tkey = task_key(run_id, key)
        label = f"task '{key}' of run '{run_id}'"
        item = self._table.recent(tkey)
        fresh = item is None
        if fresh:
            item = self._table.get(tkey)
        for _ in range(_TRIES):
            if item is None:
                raise NotFound(f"{label} does not exist")
            t, p = task_from_item(item), embedded_promise(item)
            if (promise_id is not None and (p is None or p.id != promise_id)) or not check(t, p):
                if not fresh:  # the remembered item may be old: decide on the item as it is now
                    item, fresh = self._table.get(tkey), True
                    continue
                if promise_id is not None and (p is None or p.id != promise_id):
                    raise _Apart(promise_id)
                what = f"{t.state.value} (attempt {t.attempt})" + (f", promise {p.state.value}" if p else "")
                raise StoreConflict(f"{label} is {what}", p if promise_id is not None else t)
            new_t, new_p, moved = t, p, None
            if task_changes is not None:
                new_t = from_doc(Task, {**to_doc(t), **plain(task_changes)})
            if promise_changes is not None and p is not None:
                new_p = from_doc(Promise, {**to_doc(p), **plain(promise_changes)})
            if new_promise is not None and (p is None or p.id != new_promise.id):
                new_p, moved = new_promise, p
            # both halves, always: the task's doc may refer to its promise's value
            writes = task_writes(new_t, self.due_shards, held=new_p)
            if new_p is not None:
                writes.update(embedded_writes(new_p))
            if new_t.state.terminal and TTL_ATTR not in item:
                writes[TTL_ATTR] = n(expiry(self.ttl_days))
            elif not new_t.state.terminal and TTL_ATTR in item:  # back in play: must not expire
                writes[TTL_ATTR] = None
            e = Expr()
            ver = num(item, "ver") or 0
            writes["ver"] = n(ver + 1)
            sets = [f"{e.n(a)} = {e.v(v)}" for a, v in writes.items() if v is not None]
            removes = [e.n(a) for a, v in writes.items() if v is None and a in item]
            update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
            cond = f"attribute_exists({e.n(PK)}) AND {e.n('ver')} = {e.v(n(ver))} AND ({condition(e)})"
            try:
                if moved is None:
                    after = self._table.update(tkey, update, condition=cond, expr=e)
                    return task_from_item(after), embedded_promise(after)
                self._move_out(moved, tkey, update, cond, e)
                return new_t, new_p
            except ConditionFailed as lost:
                item, fresh = lost.item, True  # someone else changed it: decide again on what is there
            except TransactionCanceled as canceled:
                if not canceled.retryable:
                    raise
                item, fresh = self._table.get(tkey), True
        raise StoreConflict(f"{label} keeps changing; gave up after {_TRIES} tries", None)

    def _move_out(self, old: Promise, tkey: dict[str, Any], update: str, cond: str, e: Expr) -> None:
        """The claim of a next attempt with, in the same transaction, the previous attempt's
        promise put as its own item (it stays readable by id and by its Databricks run)."""
        pe = Expr()
        put = {
            "Item": promise_item(old, self.due_shards, self.ttl_days),
            "ConditionExpression": f"attribute_not_exists({pe.n(PK)})",
            **pe.kwargs(),
        }
        task_update = {"Key": tkey, "UpdateExpression": update, "ConditionExpression": cond, **e.kwargs()}
        try:
            self._table.transact([{"Put": put}, {"Update": task_update}])
        except TransactionCanceled as canceled:
            if canceled.reasons[:1] == ["ConditionalCheckFailed"] and canceled.reasons[1:2] in (["None"], []):
                # kept apart already (a previous version put it there): claim without the move
                self._table.update(tkey, update, condition=cond, expr=e)
                return
            if canceled.reasons[1:2] == ["ConditionalCheckFailed"]:
                raise ConditionFailed(self._table.get(tkey)) from None
            raise
