"""Schedule records in DynamoDB: ``SCHEDULES``/``<flow>``, the next fire time in the ``due`` index.

One item per flow that has (or had) a schedule, all in one partition (as many items as such
flows; ``lakehook schedule list`` is one Query). While active, the item carries ``due_pk`` and
``due_at`` (its next fire time), so the reconciler's due query finds it exactly when it is due;
paused, it carries neither and is out of the index. Every write is one conditional PutItem: on
``attribute_not_exists`` for the first, on ``ver`` (the version read) after that — never an
unconditional write, and a put conditioned on ``ver`` cannot create a missing item.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from lambda_resolver.core.errors import StoreConflict
from lambda_resolver.stores.dynamodb_codec import due_partition, n, num, s
from lambda_resolver.stores.dynamodb_schema import DUE_AT, DUE_PK, PK, SK
from lambda_resolver.stores.dynamodb_table import ConditionFailed, Expr, Item, Key, Table

if TYPE_CHECKING:
    from lambda_resolver.core.schedule.machine import ScheduleRecord

SCHEDULES_PK = "SCHEDULES"


def schedule_key(flow: str) -> Key:
    return {PK: s(SCHEDULES_PK), SK: s(flow)}


def _record(item: Item) -> ScheduleRecord:
    from lambda_resolver.core.schedule.machine import ScheduleRecord  # a store with schedules only

    return ScheduleRecord.from_doc({**json.loads(item["doc"]["S"]), "ver": num(item, "ver") or 0})


def get(table: Table, flow: str) -> ScheduleRecord | None:
    """The schedule record of ``flow`` (a consistent read), or None."""
    item = table.get(schedule_key(flow))
    return None if item is None else _record(item)


def list_all(table: Table) -> list[ScheduleRecord]:
    """Every schedule record, by flow: one Query of the ``SCHEDULES`` partition."""
    e = Expr()
    items = table.query(
        KeyConditionExpression=f"{e.n(PK)} = {e.v(s(SCHEDULES_PK))}", ConsistentRead=True, **e.kwargs()
    )
    return [_record(it) for it in items]


def put(table: Table, record: ScheduleRecord, *, expect_ver: int, due_shards: int) -> ScheduleRecord:
    """Write ``record`` as version ``expect_ver + 1`` if the stored one is at ``expect_ver``."""
    stored = dataclasses.replace(record, ver=expect_ver + 1)
    item: Item = {
        **schedule_key(record.flow),
        "doc": s(json.dumps(stored.to_doc(), separators=(",", ":"))),
        "ver": n(stored.ver),
    }
    if stored.due_at is not None:  # the due index is sparse: a paused schedule is not in it
        item[DUE_PK] = s(due_partition(f"S#{record.flow}", due_shards))
        item[DUE_AT] = n(stored.due_at)
    e = Expr()
    if expect_ver == 0:
        condition = f"attribute_not_exists({e.n(PK)})"
    else:
        condition = f"{e.n('ver')} = {e.v(n(expect_ver))}"  # false on a missing item: never creates
    try:
        table.put(item, condition=condition, expr=e)
    except ConditionFailed as lost:
        current = None if lost.item is None else _record(lost.item)
        raise StoreConflict(f"the schedule of flow '{record.flow}' changed meanwhile", current) from None
    return stored
