"""Concurrency slots (``max_concurrent_runs``) in DynamoDB: a string set on the flow index item.

The set ``holders`` on ``FLOWS``/``<flow>`` names the runs holding a slot. Taking one is a
single UpdateItem whose condition is the limit, so two runs racing for the last slot cannot
both win. The index item exists once the flow is published; runs only start from published
flows, so no slot is ever granted for a flow without one (and no write creates it).
"""

from __future__ import annotations

from contextlib import suppress

from lambda_resolver.stores.dynamodb_codec import n, s
from lambda_resolver.stores.dynamodb_flows import flow_index_key
from lambda_resolver.stores.dynamodb_schema import PK
from lambda_resolver.stores.dynamodb_table import ConditionFailed, Expr, Table

HOLDERS = "holders"


def acquire(table: Table, flow: str, run_id: str, limit: int) -> bool:
    """Take one of ``limit`` slots of ``flow`` for ``run_id``; True if it holds one now.
    Idempotent: a run that already holds a slot keeps it, whatever the limit."""
    e = Expr()
    h = e.n(HOLDERS)
    condition = (
        f"attribute_exists({e.n(PK)}) AND (attribute_not_exists({h}) OR size({h}) < {e.v(n(limit))} "
        f"OR contains({h}, {e.v(s(run_id))}))"
    )
    try:
        table.update(flow_index_key(flow), f"ADD {h} {e.v({'SS': [run_id]})}", condition=condition, expr=e)
        return True
    except ConditionFailed:
        return False


def release(table: Table, flow: str, run_id: str) -> None:
    """Give back ``run_id``'s slot of ``flow``, if it holds one (an empty set disappears)."""
    e = Expr()
    with suppress(ConditionFailed):  # no such flow: nothing is held
        table.update(
            flow_index_key(flow),
            f"DELETE {e.n(HOLDERS)} {e.v({'SS': [run_id]})}",
            condition=f"attribute_exists({e.n(PK)})",
            expr=e,
        )


def holders(table: Table, flow: str) -> list[str]:
    """The runs holding slots of ``flow``, sorted."""
    item = table.get(flow_index_key(flow))
    return sorted(item[HOLDERS]["SS"]) if item is not None and HOLDERS in item else []
