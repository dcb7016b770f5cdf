"""Records <-> DynamoDB items.

A record is stored as a JSON string ``doc`` (so JSON values, floats included, round-trip
exactly: nothing becomes a Decimal) plus top-level attributes for what conditions, counters
and indexes need. The top-level attributes are authoritative: they are left out of ``doc``
and read back from the item, because some writes (``deliver_edge``, ``complete_propagation``)
change them without rewriting ``doc``. ``ver`` counts the rewrites of ``doc``: a rewrite
carries ``ver = <the version it was computed from>`` in its condition.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Mapping
from enum import Enum
from typing import Any

from lambda_resolver.core.models import Promise, Run, Task, from_doc, to_doc
from lambda_resolver.stores.dynamodb_schema import (
    CREATED_SK,
    DBX_RUN_ID,
    DUE_AT,
    DUE_PK,
    PK,
    RUNS_PK,
    SK,
    TTL_ATTR,
    created_sk,
    runs_pk,
)
from lambda_resolver.stores.dynamodb_table import Item, Key

# What lives outside ``doc``, per record type (see the module docstring).
PROMISE_TOP = ("state", "timeout_at", "due_at")
TASK_TOP = ("state", "attempt", "waiting", "propagated", "deps", "due_at")
RUN_TOP = ("state", "open_leaves", "failed_leaves", "canceled_leaves", "any_failed", "due_at")

Writes = dict[str, Any]  # attribute -> wire value to SET, or None to REMOVE

# In a task's ``doc`` instead of its value, when the value is its attempt's promise's, held in
# the same item (``p_doc``, see dynamodb_attempts): a value up to 256 KiB is stored once, and
# the item stays far below DynamoDB's 400 KB.
VALUE_OF_ATTEMPT = "value_of_attempt"


def s(v: str) -> dict[str, Any]:
    return {"S": v}


def n(v: int) -> dict[str, Any]:
    return {"N": str(v)}


def flag(v: bool) -> dict[str, Any]:
    return {"BOOL": v}


def num(item: Mapping[str, Any], name: str) -> int | None:
    """The integer attribute ``name`` of ``item``, or None if absent."""
    av = item.get(name)
    return None if av is None else int(av["N"])


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def plain(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Changes with enum members replaced by their values, ready for a JSON document."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in changes.items()}


def due_partition(pk: str, shards: int) -> str:
    """The ``due`` index partition of an item: "DUE", or "DUE#<n>" spread by a stable hash."""
    return "DUE" if shards <= 1 else f"DUE#{zlib.crc32(pk.encode()) % shards}"


def expiry(ttl_days: int) -> int:
    """The TTL instant (epoch seconds, wall clock) of a record that is final now."""
    return int(time.time()) + ttl_days * 86_400


# -- keys ----------------------------------------------------------------------------------------
def promise_key(promise_id: str) -> Key:
    return {PK: s(f"P#{promise_id}"), SK: s("P")}


def run_key(run_id: str) -> Key:
    return {PK: s(f"R#{run_id}"), SK: s("R")}


def task_key(run_id: str, key: str) -> Key:
    return {PK: s(f"R#{run_id}"), SK: s(f"T#{key}")}


# -- decoding ------------------------------------------------------------------------------------
def _doc(item: Mapping[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(item["doc"]["S"])
    doc["state"] = item["state"]["S"]
    doc["due_at"] = num(item, DUE_AT)
    return doc


def promise_from_item(item: Mapping[str, Any]) -> Promise:
    doc = _doc(item)
    doc["timeout_at"] = num(item, "timeout_at")
    return from_doc(Promise, doc)


def task_from_item(item: Mapping[str, Any]) -> Task:
    doc = _doc(item)
    if doc.pop(VALUE_OF_ATTEMPT, False):
        doc["value"] = json.loads(item["p_doc"]["S"]).get("value")
    doc["attempt"] = num(item, "attempt")
    doc["waiting"] = num(item, "waiting")
    doc["propagated"] = item["propagated"]["BOOL"]
    doc["deps"] = {parent: av["S"] for parent, av in item["deps"]["M"].items()}
    return from_doc(Task, doc)


def run_from_item(item: Mapping[str, Any]) -> Run:
    doc = _doc(item)
    for counter in ("open_leaves", "failed_leaves", "canceled_leaves"):
        doc[counter] = num(item, counter)
    doc["any_failed"] = item["any_failed"]["BOOL"]
    return from_doc(Run, doc)


# -- encoding: what a rewrite sets (None: removes) -------------------------------------------------
def _common(doc: dict[str, Any], top: tuple[str, ...], pk: str, shards: int) -> Writes:
    due_at = doc.get("due_at")
    writes: Writes = {
        "doc": s(dumps({k: v for k, v in doc.items() if k not in top})),
        "state": s(doc["state"]),
        # the due index is sparse: an item without due_at is not in it
        DUE_PK: None if due_at is None else s(due_partition(pk, shards)),
        DUE_AT: None if due_at is None else n(due_at),
    }
    return writes


def promise_writes(p: Promise, shards: int) -> Writes:
    writes = _common(to_doc(p), PROMISE_TOP, f"P#{p.id}", shards)
    writes["timeout_at"] = n(p.timeout_at)
    dbx = p.databricks_run_id
    # an index copy only: the doc keeps databricks_run_id (it may not be a number)
    writes[DBX_RUN_ID] = n(dbx) if isinstance(dbx, int) and not isinstance(dbx, bool) else None
    return writes


def task_writes(t: Task, shards: int, held: Promise | None = None) -> Writes:
    """What ``update_task`` rewrites. Not ``waiting``/``deps``: only deliver_edge changes those.
    ``held``: the attempt promise the item holds after the write (its value is not repeated)."""
    doc = to_doc(t)
    if (
        held is not None
        and held.id == t.promise_id
        and t.value is not None
        and dumps({"v": held.value}) == dumps({"v": t.value})
    ):
        doc.pop("value")
        doc[VALUE_OF_ATTEMPT] = True
    writes = _common(doc, TASK_TOP, f"R#{t.run_id}", shards)
    writes["attempt"] = n(t.attempt)
    writes["propagated"] = flag(t.propagated)
    return writes


def run_writes(r: Run, shards: int) -> Writes:
    """What ``update_run`` rewrites. Not the leaf counters: only complete_propagation moves them."""
    return _common(to_doc(r), RUN_TOP, f"R#{r.run_id}", shards)


def new_item(key: Key, writes: Writes, **extra: dict[str, Any]) -> Item:
    """A whole item for a PutItem: key, the attributes that are set, ``ver`` 0, and ``extra``."""
    item: Item = {**key, **{k: v for k, v in writes.items() if v is not None}, "ver": n(0)}
    item.update(extra)
    return item


def promise_item(p: Promise, shards: int, ttl_days: int) -> Item:
    extra = {TTL_ATTR: n(expiry(ttl_days))} if p.state.settled else {}
    return new_item(promise_key(p.id), promise_writes(p, shards), **extra)


def task_item(t: Task, order: int, shards: int, ttl_days: int) -> Item:
    """A new task; ``ord`` keeps the creation order, so list_tasks answers in manifest order."""
    extra = {TTL_ATTR: n(expiry(ttl_days))} if t.state.terminal else {}
    return new_item(
        task_key(t.run_id, t.key),
        task_writes(t, shards),
        waiting=n(t.waiting),
        deps={"M": {parent: s(outcome) for parent, outcome in t.deps.items()}},  # a map, for SET deps.#p
        ord=n(order),
        **extra,
    )


def run_item(r: Run, shards: int, ttl_days: int) -> Item:
    extra = {TTL_ATTR: n(expiry(ttl_days))} if r.state.final else {}
    return new_item(
        run_key(r.run_id),
        run_writes(r, shards),
        open_leaves=n(r.open_leaves),
        failed_leaves=n(r.failed_leaves),
        canceled_leaves=n(r.canceled_leaves),
        any_failed=flag(r.any_failed),
        flow=s(r.flow),
        **{RUNS_PK: s(runs_pk(r.flow)), CREATED_SK: s(created_sk(r.created_at, r.run_id))},
        **extra,
    )
