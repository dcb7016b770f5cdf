"""A task attempt's promise inside its task item: the attributes that hold it, and conditions.

See :mod:`.dynamodb_attempts` for why it lives there. ``p_doc`` is the promise's document (as
``doc`` is the task's), ``p_state`` and ``p_timeout_at`` what write conditions test, and
``dbx_run_id`` the Databricks run its attempt started (the ``dbx`` index).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from lambda_resolver.core.ids import parse_task_promise_id
from lambda_resolver.core.models import JSON, Promise, PromiseState, from_doc, to_doc
from lambda_resolver.stores.dynamodb_codec import Writes, dumps, n, num, s
from lambda_resolver.stores.dynamodb_schema import DBX_RUN_ID
from lambda_resolver.stores.dynamodb_table import Expr


def embedded_promise(item: Mapping[str, Any]) -> Promise | None:
    """The attempt promise a task item holds, or None."""
    if "p_doc" not in item:
        return None
    doc: dict[str, JSON] = json.loads(item["p_doc"]["S"])
    doc["state"] = item["p_state"]["S"]
    doc["timeout_at"] = num(item, "p_timeout_at")
    return from_doc(Promise, doc)


def embedded_writes(p: Promise) -> Writes:
    """The task item's attributes that hold ``p``."""
    # None is every field's default: left out, the item stays small
    doc = {k: v for k, v in to_doc(p).items() if k not in ("state", "timeout_at") and v is not None}
    dbx = p.databricks_run_id
    return {
        "p_doc": s(dumps(doc)),
        "p_state": s(p.state.value),
        "p_timeout_at": n(p.timeout_at),
        DBX_RUN_ID: n(dbx) if isinstance(dbx, int) and not isinstance(dbx, bool) else None,
    }


def home(p: Promise) -> tuple[str, str] | None:
    """The (run, task) whose item holds ``p``, or None if it is kept as its own item."""
    parsed = parse_task_promise_id(p.id)
    if parsed is None or (parsed[0], parsed[1], parsed[2]) != (p.run_id, p.task_key, p.attempt):
        return None
    return parsed[0], parsed[1]


def promise_holds(
    p: Promise, state: PromiseState | None, after: int | None, at_or_before: int | None
) -> bool:
    """Whether ``p`` meets an update_promise condition (as :func:`promise_condition` says it)."""
    return (
        (state is None or p.state is state)
        and (after is None or p.timeout_at > after)
        and (at_or_before is None or p.timeout_at <= at_or_before)
    )


def promise_condition(
    e: Expr, state: PromiseState | None, after: int | None, at_or_before: int | None
) -> str:
    """The expression of an update_promise condition on the promise a task item holds."""
    parts = [f"attribute_exists({e.n('p_doc')})"]
    if state is not None:
        parts.append(f"{e.n('p_state')} = {e.v(s(state.value))}")
    if after is not None:
        parts.append(f"{e.n('p_timeout_at')} > {e.v(n(after))}")
    if at_or_before is not None:
        parts.append(f"{e.n('p_timeout_at')} <= {e.v(n(at_or_before))}")
    return " AND ".join(parts)


def task_condition(e: Expr, states: Collection[str], attempt: int) -> str:
    """The expression of an update_task condition: one of ``states``, at ``attempt``."""
    return (
        f"{e.n('state')} IN ({', '.join(e.v(s(x)) for x in sorted(states))}) "
        f"AND {e.n('attempt')} = {e.v(n(attempt))}"
    )
