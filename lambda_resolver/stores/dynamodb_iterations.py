"""The DynamoDB store's for_each loops, in the run's partition: one loop item per for_each
attempt (``SK = L#<task>#<attempt>``: its counters; its inputs, written with it, in
``L#<task>#<attempt>#inputs``, read once per process) and one item per claimed iteration
(``SK = I#<task>#<attempt>#<index, 5 digits>``, so a page of iterations is one range read).

A claim is one ``TransactWriteItems``: the loop's counters move under the condition ``nxt =
:index AND active < conc AND stopped = false``, and the iteration item and its first promise are
put (``attribute_not_exists``) with them. Counting an iteration off is one transaction too: the
iteration item is rewritten under ``pid = :promise AND state = RUNNING`` and the loop's
``active``/``ended`` counters move with it — so of any number of settles, one counts it.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.models import Promise
from lambda_resolver.stores.dynamodb_codec import dumps, expiry, flag, n, num, plain, promise_item, s
from lambda_resolver.stores.dynamodb_schema import PK, SK, TTL_ATTR
from lambda_resolver.stores.dynamodb_table import (
    CONFLICT_TRIES,
    ConditionFailed,
    Expr,
    Item,
    Key,
    Table,
    TransactionCanceled,
    pause,
)

if TYPE_CHECKING:  # the records are imported by the first for_each read (a callback never needs them)
    from lambda_resolver.core.iterations import Iteration, Loop

_WIDTH = 5  # index digits: MAX_INPUTS is 5000
_LOOP_TTL_EXTRA_DAYS = 7  # a loop outlives its promises (at most 7 days each) by the store's TTL


def loop_key(run_id: str, task_key: str, attempt: int) -> Key:
    return {PK: s(f"R#{run_id}"), SK: s(f"L#{task_key}#{attempt}")}


def iteration_key(run_id: str, task_key: str, attempt: int, index: int) -> Key:
    return {PK: s(f"R#{run_id}"), SK: s(f"I#{task_key}#{attempt}#{index:0{_WIDTH}d}")}


def inputs_key(run_id: str, task_key: str, attempt: int) -> Key:
    """The loop's inputs, apart from its counters: a settle reads the small counters item, and the
    inputs (up to 256 KiB, never changed) once per process (:class:`_Inputs`)."""
    return {PK: s(f"R#{run_id}"), SK: s(f"L#{task_key}#{attempt}#inputs")}


class _Inputs:
    """The inputs of the loops this store object read lately: immutable once written, so a cached
    copy is always right, and a settle does not pay for reading them again (a Lambda keeps its
    store object between invocations)."""

    SIZE = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str, str, int], tuple[Any, ...]] = OrderedDict()

    def get(self, ident: tuple[str, str, str, int], load: Callable[[], tuple[Any, ...]]) -> tuple[Any, ...]:
        with self._lock:
            found = self._items.get(ident)
            if found is not None:
                self._items.move_to_end(ident)
                return found
        value = load()
        with self._lock:
            self._items[ident] = value
            while len(self._items) > self.SIZE:
                self._items.popitem(last=False)
        return value


def loop_from_item(item: Mapping[str, Any], inputs: tuple[Any, ...]) -> Loop:
    from lambda_resolver.core.iterations import Loop

    doc = json.loads(item["doc"]["S"])
    run_id = item[PK]["S"][2:]
    task_key, attempt = item[SK]["S"][2:].rsplit("#", 1)
    return Loop(
        run_id,
        task_key,
        int(attempt),
        inputs,
        num(item, "conc") or 1,
        next=num(item, "nxt") or 0,
        active=num(item, "active") or 0,
        ended={state: int(v["N"]) for state, v in item["ended"]["M"].items()},
        stopped=item["stopped"]["BOOL"],
        created_at=doc.get("created_at", 0),
    )


def iteration_from(doc: Mapping[str, Any]) -> Iteration:
    """An iteration record from its stored document (the records' module imported on first use)."""
    from lambda_resolver.core.iterations import Iteration

    return Iteration.from_doc(doc)


def iteration_item(key: Key, it: Iteration, ttl: int | None) -> Item:
    item: Item = {**key, "state": s(it.state.value), "pid": s(it.promise_id), "doc": s(dumps(it.to_doc()))}
    if ttl is not None:
        item[TTL_ATTR] = n(ttl)
    return item


class RunLoops:
    """The :class:`~lambda_resolver.core.store.IterationStore` half of the DynamoDB store."""

    _table: Table
    due_shards: int
    ttl_days: int
    _loop_inputs: _Inputs

    def create_loop(self, loop: Loop) -> tuple[Loop, bool]:
        key = loop_key(loop.run_id, loop.task_key, loop.attempt)
        item: Item = {
            **key,
            "nxt": n(0),
            "active": n(0),
            "conc": n(loop.concurrency),
            "total": n(loop.total),
            "stopped": flag(False),
            "ended": {"M": {}},
            "doc": s(dumps({"created_at": loop.created_at})),
            TTL_ATTR: n(expiry(self.ttl_days + _LOOP_TTL_EXTRA_DAYS)),
        }
        inputs: Item = {
            **inputs_key(loop.run_id, loop.task_key, loop.attempt),
            "doc": s(dumps({"inputs": list(loop.inputs)})),
            TTL_ATTR: n(expiry(self.ttl_days + _LOOP_TTL_EXTRA_DAYS)),
        }
        try:  # both or neither: a loop never exists without its inputs
            self._table.transact([_put_new(item), _put_new(inputs)])
        except TransactionCanceled as exc:
            if "ConditionalCheckFailed" not in exc.reasons:
                raise
            stored = self.get_loop(loop.run_id, loop.task_key, loop.attempt)
            if stored is None:  # pragma: no cover - the condition said it exists
                raise RuntimeError(f"loop {key} failed attribute_not_exists but cannot be read") from None
            return stored, False
        return loop, True

    def get_loop(self, run_id: str, task_key: str, attempt: int) -> Loop | None:
        item = self._table.get(loop_key(run_id, task_key, attempt))
        return None if item is None else self._decode(item)

    def _decode(self, item: Mapping[str, Any]) -> Loop:
        """A loop item with its inputs (read once by this store object, then from its cache)."""
        run_id = item[PK]["S"][2:]
        task_key, attempt = item[SK]["S"][2:].rsplit("#", 1)
        key = inputs_key(run_id, task_key, int(attempt))

        def load() -> tuple[Any, ...]:
            found = self._table.get(key)
            if found is None:  # pragma: no cover - written in the loop's own transaction
                raise RuntimeError(f"the inputs of loop {task_key} of {run_id} are missing")
            return tuple(json.loads(found["doc"]["S"])["inputs"])

        cache: _Inputs | None = getattr(self, "_loop_inputs", None)
        if cache is None:
            cache = self._loop_inputs = _Inputs()
        return loop_from_item(item, cache.get((self._table.name, run_id, task_key, int(attempt)), load))

    def claim_iteration(self, loop: Loop, iteration: Iteration, promise: Promise) -> Loop:
        key = loop_key(loop.run_id, loop.task_key, loop.attempt)
        e = Expr()
        one = e.v(n(1))
        update = {
            "Key": key,
            "UpdateExpression": f"SET {e.n('nxt')} = {e.n('nxt')} + {one}, "
            f"{e.n('active')} = {e.n('active')} + {one}",
            # the claim's condition: this index is the next one, a slot is free, the loop goes on
            "ConditionExpression": f"{e.n('nxt')} = {e.v(n(iteration.index))} AND "
            f"{e.n('nxt')} < {e.n('total')} AND {e.n('active')} < {e.n('conc')} AND "
            f"{e.n('stopped')} = {e.v(flag(False))}",
            **e.kwargs(),
        }
        ikey = iteration_key(loop.run_id, loop.task_key, loop.attempt, iteration.index)
        actions = [
            {"Update": update},
            _put_new(iteration_item(ikey, iteration, None)),
            _put_new(promise_item(promise, self.due_shards, self.ttl_days)),
        ]
        for attempt in range(CONFLICT_TRIES):
            try:
                self._table.transact(actions)
                break
            except TransactionCanceled as exc:
                if exc.reasons[:1] == ["ConditionalCheckFailed"] or attempt + 1 == CONFLICT_TRIES:
                    current = self.get_loop(loop.run_id, loop.task_key, loop.attempt)
                    if current is None:
                        raise NotFound(
                            f"for_each loop {loop.task_key} of {loop.run_id} does not exist"
                        ) from None
                    raise StoreConflict(f"iteration {iteration.index} cannot be claimed", current) from None
                pause(attempt)  # a conflicting transaction on the loop: its counters moved meanwhile
        after = self.get_loop(loop.run_id, loop.task_key, loop.attempt)
        assert after is not None
        return after

    def get_iteration(self, run_id: str, task_key: str, attempt: int, index: int) -> Iteration | None:
        item = self._table.get(iteration_key(run_id, task_key, attempt, index))
        return None if item is None else iteration_from(json.loads(item["doc"]["S"]))

    def finish_iteration(
        self,
        loop: Loop,
        index: int,
        *,
        promise_id: str,
        changes: Mapping[str, Any],
        retry: Promise | None = None,
    ) -> Loop | None:
        from lambda_resolver.core.iterations import IterationState

        ikey = iteration_key(loop.run_id, loop.task_key, loop.attempt, index)
        for attempt in range(CONFLICT_TRIES):
            current = self.get_iteration(loop.run_id, loop.task_key, loop.attempt, index)
            if (
                current is None
                or current.state is not IterationState.RUNNING
                or current.promise_id != promise_id
            ):
                return None  # moved on already: counted once, by whoever got here first
            doc = current.to_doc()
            doc.update(plain(changes))
            if retry is not None:
                doc.update(state=IterationState.RUNNING.value, promise_id=retry.id, tries=current.tries + 1)
            new = iteration_from(doc)
            e = Expr()
            put = {
                "Item": iteration_item(ikey, new, None if retry is not None else expiry(self.ttl_days)),
                "ConditionExpression": f"{e.n('pid')} = {e.v(s(promise_id))} AND "
                f"{e.n('state')} = {e.v(s(IterationState.RUNNING.value))}",
                **e.kwargs(),
            }
            second = (
                _put_new(promise_item(retry, self.due_shards, self.ttl_days))
                if retry
                else self._count(loop, new)
            )
            try:
                self._table.transact([{"Put": put}, second])
            except TransactionCanceled as exc:
                if exc.reasons[:1] == ["ConditionalCheckFailed"]:
                    return None  # another settle counted it first
                pause(attempt)
                continue
            return self.get_loop(loop.run_id, loop.task_key, loop.attempt)
        return None

    @staticmethod
    def _count(loop: Loop, it: Iteration) -> dict[str, Any]:
        e = Expr()
        ended = f"{e.n('ended')}.{e.n(it.state.value)}"
        update = {
            "Key": loop_key(loop.run_id, loop.task_key, loop.attempt),
            "UpdateExpression": f"SET {e.n('active')} = {e.n('active')} - {e.v(n(1))}, "
            f"{ended} = if_not_exists({ended}, {e.v(n(0))}) + {e.v(n(1))}",
            "ConditionExpression": f"attribute_exists({e.n(PK)})",
            **e.kwargs(),
        }
        return {"Update": update}

    def stop_loop(self, run_id: str, task_key: str, attempt: int) -> Loop | None:
        e = Expr()
        try:
            item = self._table.update(
                loop_key(run_id, task_key, attempt),
                f"SET {e.n('stopped')} = {e.v(flag(True))}",
                condition=f"attribute_exists({e.n(PK)})",
                expr=e,
            )
        except ConditionFailed:
            return None
        return self._decode(item)

    def list_iterations(
        self, run_id: str, task_key: str, attempt: int, *, start: int = 0, limit: int = 100
    ) -> Sequence[Iteration]:
        e = Expr()
        low = iteration_key(run_id, task_key, attempt, start)[SK]
        high = s(f"I#{task_key}#{attempt}#{'9' * _WIDTH}")
        items = self._table.query(
            KeyConditionExpression=f"{e.n(PK)} = {e.v(s(f'R#{run_id}'))} AND "
            f"{e.n(SK)} BETWEEN {e.v(low)} AND {e.v(high)}",
            ConsistentRead=True,
            Limit=limit,
            **e.kwargs(),
        )
        return [iteration_from(json.loads(i["doc"]["S"])) for i in itertools.islice(items, limit)]


def _put_new(item: Item) -> dict[str, Any]:
    """A transaction's Put that never overwrites: the item must not exist yet."""
    return {
        "Put": {
            "Item": item,
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": PK},
        }
    }
