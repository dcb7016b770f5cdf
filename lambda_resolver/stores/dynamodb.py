"""The DynamoDB store: production. One table, conditional writes and transactions only.

Layout, indexes and TTL are in :mod:`.dynamodb_schema`; records <-> items in
:mod:`.dynamodb_codec`; flow versions in :mod:`.dynamodb_flows`; promises, kept in their task's
item while they are its current attempt's, in :mod:`.dynamodb_attempts`.

Every write carries a ``ConditionExpression`` and asks for ``ALL_OLD`` on failure, so a lost
race answers with the winner's record without a second read. A record change (``update_*``)
is a consistent read, the change merged into the record in Python, and one UpdateItem whose
condition is the caller's expectation (the ``from`` state, attempt, deadline) AND the ``ver``
it read — optimistic concurrency. If only ``ver`` moved (a concurrent change the expectation
still allows), it retries from the item the failure returned; if the expectation fails, it
raises StoreConflict with the current record. No UpdateItem can create an item: each one
requires ``attribute_exists(PK)``. No Scan, ever.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import (
    DueItem,
    Promise,
    PromiseState,
    Run,
    RunState,
    Task,
    TaskState,
    from_doc,
    to_doc,
)
from lambda_resolver.stores import dynamodb_flows as flows
from lambda_resolver.stores import dynamodb_schedules as schedules
from lambda_resolver.stores import dynamodb_slots as slots
from lambda_resolver.stores.dynamodb_attempts import AttemptItems
from lambda_resolver.stores.dynamodb_codec import (
    Writes,
    expiry,
    flag,
    n,
    num,
    plain,
    promise_from_item,
    promise_item,
    promise_key,
    promise_writes,
    run_from_item,
    run_key,
    run_writes,
    s,
    task_from_item,
    task_key,
    task_writes,
)
from lambda_resolver.stores.dynamodb_embedded import embedded_promise
from lambda_resolver.stores.dynamodb_history import RunHistory
from lambda_resolver.stores.dynamodb_iterations import RunLoops
from lambda_resolver.stores.dynamodb_schema import (
    DUE_AT,
    DUE_INDEX,
    DUE_PK,
    PK,
    SK,
    TTL_ATTR,
    create_table,
    table_definition,
)
from lambda_resolver.stores.dynamodb_table import ConditionFailed, Expr, Item, Key, Table
from lambda_resolver.stores.dynamodb_tasks import RunTasks

if TYPE_CHECKING:
    from lambda_resolver.core.schedule.machine import ScheduleRecord
    from lambda_resolver.wiring import StoreUrl
__all__ = ["DynamoStore", "create_table", "table_definition"]

R = TypeVar("R", Promise, Task, Run)
_REWRITE_TRIES = 10


class DynamoStore(RunHistory, RunTasks, AttemptItems, RunLoops):
    """A :class:`~lambda_resolver.core.store.Store` in one DynamoDB table.

    ``client`` is a low-level boto3 or botocore ``dynamodb`` client (built lazily when omitted);
    ``ttl_days`` is how long finished records stay; ``due_shards`` spreads the ``due`` index
    over that many partitions (change it only with an empty index).
    """

    def __init__(
        self, table_name: str, *, client: Any | None = None, ttl_days: int = 30, due_shards: int = 1
    ) -> None:
        self.table_name = table_name
        self.ttl_days = ttl_days
        self.due_shards = due_shards
        self._table = Table(table_name, client)

    def __repr__(self) -> str:
        return f"DynamoStore({self.table_name!r})"

    # -- the one way a record's doc changes ------------------------------------------------------
    def _rewrite(
        self,
        key: Key,
        decode: Callable[[Item], R],
        encode: Callable[[R, int], Writes],
        changes: Mapping[str, Any],
        *,
        expect: Callable[[R], bool],
        condition: Callable[[Expr], str],
        final: Callable[[R], bool],
        label: str,
    ) -> R:
        """Apply ``changes`` to the record at ``key`` if ``expect`` holds (``condition`` is the
        same test as a DynamoDB expression). Optimistic: see the module docstring. It starts from
        the item this thread last read or wrote at ``key`` when there is one (:meth:`Table.recent`):
        the write's ``ver`` condition catches a change since, and the retry starts from ALL_OLD."""
        item = self._table.recent(key)
        fresh = item is None  # a remembered item is only a guess until the write confirms it
        if fresh:
            item = self._table.get(key)
        for _ in range(_REWRITE_TRIES):
            if item is None:
                raise NotFound(f"{label} does not exist")
            current = decode(item)
            if not expect(current):
                if not fresh:  # the guess may be old: decide on the item as it is now
                    item, fresh = self._table.get(key), True
                    continue
                # as the conditional write would fail: skip paying for it
                raise StoreConflict(f"{label} is {current.state.value}", current)
            doc = to_doc(current)
            doc.update(plain(changes))
            new = from_doc(type(current), doc)
            writes = encode(new, self.due_shards)
            if final(new) and TTL_ATTR not in item:
                writes[TTL_ATTR] = n(expiry(self.ttl_days))
            elif not final(new) and TTL_ATTR in item:  # back in play (a retry): must not expire
                writes[TTL_ATTR] = None
            e = Expr()
            ver = num(item, "ver") or 0
            writes["ver"] = n(ver + 1)
            sets = [f"{e.n(a)} = {e.v(v)}" for a, v in writes.items() if v is not None]
            removes = [e.n(a) for a, v in writes.items() if v is None]
            update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
            cond = f"attribute_exists({e.n(PK)}) AND {e.n('ver')} = {e.v(n(ver))} AND ({condition(e)})"
            try:
                return decode(self._table.update(key, update, condition=cond, expr=e))
            except ConditionFailed as lost:
                item, fresh = lost.item, True  # someone else changed it: decide again on what is there
        if item is None:
            raise NotFound(f"{label} does not exist")
        raise StoreConflict(f"{label} keeps changing; gave up after {_REWRITE_TRIES} tries", decode(item))

    # -- promises --------------------------------------------------------------------------------
    def create_promise(self, promise: Promise) -> tuple[Promise, bool]:
        e = Expr()
        try:
            self._table.put(
                promise_item(promise, self.due_shards, self.ttl_days),
                condition=f"attribute_not_exists({e.n(PK)})",
                expr=e,
            )
            return promise, True
        except ConditionFailed as dup:  # it exists: answer with the stored one, as is
            return promise_from_item(self._table.existing(promise_key(promise.id), dup.item)), False

    def _update_promise_item(
        self,
        promise_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: PromiseState | None,
        deadline_after: int | None,
        deadline_at_or_before: int | None,
    ) -> Promise:
        """update_promise of a promise kept as its own item (:mod:`.dynamodb_attempts`)."""

        def expect(p: Promise) -> bool:
            return (
                (expect_state is None or p.state is expect_state)
                and (deadline_after is None or p.timeout_at > deadline_after)
                and (deadline_at_or_before is None or p.timeout_at <= deadline_at_or_before)
            )

        def condition(e: Expr) -> str:
            parts = [f"attribute_exists({e.n(PK)})"]
            if expect_state is not None:
                parts.append(f"{e.n('state')} = {e.v(s(expect_state.value))}")
            if deadline_after is not None:
                parts.append(f"{e.n('timeout_at')} > {e.v(n(deadline_after))}")
            if deadline_at_or_before is not None:
                parts.append(f"{e.n('timeout_at')} <= {e.v(n(deadline_at_or_before))}")
            return " AND ".join(parts)

        return self._rewrite(
            promise_key(promise_id),
            promise_from_item,
            promise_writes,
            changes,
            expect=expect,
            condition=condition,
            final=lambda p: p.state.settled,
            label=f"promise '{promise_id}'",
        )

    # -- flows -----------------------------------------------------------------------------------
    def put_flow(self, manifest: FlowManifest) -> FlowManifest:
        return flows.put_flow(self._table, manifest)

    def get_flow(self, name: str, version: int | None = None) -> FlowManifest | None:
        return flows.get_flow(self._table, name, version)

    def list_flows(self) -> list[FlowManifest]:
        return flows.list_flows(self._table)

    # -- runs ------------------------------------------------------------------------------------
    def update_run(
        self, run_id: str, changes: Mapping[str, Any], *, expect_states: Collection[RunState]
    ) -> Run:
        states = [RunState(x).value for x in expect_states]

        def condition(e: Expr) -> str:
            return f"{e.n('state')} IN ({', '.join(e.v(s(x)) for x in states)})"

        return self._rewrite(
            run_key(run_id),
            run_from_item,
            run_writes,
            changes,
            expect=lambda r: r.state.value in states,
            condition=condition,
            final=lambda r: r.state.final,
            label=f"run '{run_id}'",
        )

    def begin_repair(
        self,
        run_id: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[RunState],
        expect_repair_id: int | None,
    ) -> Run:
        """A rewrite that also sets the leaf counters. ``latest_repair_id`` lives in ``doc``, so
        the ``ver`` condition carries it: the write lands only on the record the check read. (No
        counter moves meanwhile: a final run has nothing left to propagate.)"""
        states = [RunState(x).value for x in expect_states]

        def encode(r: Run, shards: int) -> Writes:
            writes = run_writes(r, shards)
            writes.update(
                open_leaves=n(r.open_leaves),
                failed_leaves=n(r.failed_leaves),
                canceled_leaves=n(r.canceled_leaves),
                any_failed=flag(r.any_failed),
            )
            return writes

        return self._rewrite(
            run_key(run_id),
            run_from_item,
            encode,
            changes,
            expect=lambda r: r.state.value in states and r.latest_repair_id == expect_repair_id,
            condition=lambda e: f"{e.n('state')} IN ({', '.join(e.v(s(x)) for x in states)})",
            final=lambda r: r.state.final,
            label=f"run '{run_id}'",
        )

    # -- tasks -----------------------------------------------------------------------------------
    def update_task(
        self,
        run_id: str,
        key: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int | None = None,
    ) -> Task:
        states = [TaskState(x).value for x in expect_states]

        def condition(e: Expr) -> str:
            cond = f"{e.n('state')} IN ({', '.join(e.v(s(x)) for x in states)})"
            if expect_attempt is not None:
                cond += f" AND {e.n('attempt')} = {e.v(n(expect_attempt))}"
            return cond

        tkey = task_key(run_id, key)

        def encode(t: Task, shards: int) -> Writes:
            # the item being rewritten is the one this thread last saw (Table.recent)
            return task_writes(t, shards, held=embedded_promise(self._table.recent(tkey) or {}))

        return self._rewrite(
            tkey,
            task_from_item,
            encode,
            changes,
            expect=lambda t: t.state.value in states and expect_attempt in (None, t.attempt),
            condition=condition,
            final=lambda t: t.state.terminal,
            label=f"task '{key}' of run '{run_id}'",
        )

    # -- schedules -------------------------------------------------------------------------------
    def get_schedule(self, flow: str) -> ScheduleRecord | None:
        return schedules.get(self._table, flow)

    def list_schedules(self) -> list[ScheduleRecord]:
        return schedules.list_all(self._table)

    def put_schedule(self, record: ScheduleRecord, *, expect_ver: int) -> ScheduleRecord:
        return schedules.put(self._table, record, expect_ver=expect_ver, due_shards=self.due_shards)

    # -- slots and the due index -----------------------------------------------------------------
    def acquire_slot(self, flow: str, run_id: str, limit: int) -> bool:
        return slots.acquire(self._table, flow, run_id, limit)

    def release_slot(self, flow: str, run_id: str) -> None:
        slots.release(self._table, flow, run_id)

    def slot_holders(self, flow: str) -> list[str]:
        return slots.holders(self._table, flow)

    def due(self, now: int, limit: int = 100) -> list[DueItem]:
        """Each shard of the ``due`` index up to ``limit`` items, merged, earliest first."""
        if limit <= 0:
            return []
        shards = ["DUE"] if self.due_shards <= 1 else [f"DUE#{i}" for i in range(self.due_shards)]
        found: list[DueItem] = []
        for shard in shards:
            e = Expr()
            hits = self._table.query(
                IndexName=DUE_INDEX,
                KeyConditionExpression=f"{e.n(DUE_PK)} = {e.v(s(shard))} AND {e.n(DUE_AT)} <= {e.v(n(now))}",
                Limit=limit,
                **e.kwargs(),
            )
            for i, hit in enumerate(hits):
                found.append(_due_item(hit))
                if i + 1 >= limit:
                    break
        found.sort(key=lambda d: d.due_at)
        return found[:limit]


def _due_item(hit: Item) -> DueItem:
    """A ``due`` index entry as a DueItem; the table keys say what it is."""
    pk, sk, due_at = hit[PK]["S"], hit[SK]["S"], num(hit, DUE_AT) or 0
    if pk.startswith("P#"):
        return DueItem("promise", due_at, pk[2:])
    if pk == schedules.SCHEDULES_PK:
        return DueItem("schedule", due_at, sk)
    if sk.startswith("T#"):
        return DueItem("task", due_at, pk[2:], sk[2:])
    return DueItem("run", due_at, pk[2:])


def from_url(url: StoreUrl, clients: Mapping[str, Any]) -> DynamoStore:
    """``dynamodb://<table>?due_shards=N&ttl_days=D`` (see :mod:`lambda_resolver.wiring`)."""
    return DynamoStore(
        url.location,
        client=clients.get("dynamodb"),
        ttl_days=url.int_option("ttl_days", 30),
        due_shards=url.int_option("due_shards", 1),
    )
