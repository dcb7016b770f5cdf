"""Run history on DynamoDB: pages of runs, newest first, one ``runs`` index partition per flow.

A page of one flow's history is one index query and one batch read, whatever other flows hold;
without a flow, every flow that has runs (the ``RUNFLOWS`` items) is queried and the pages merged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambda_resolver.core.models import Run, RunState
from lambda_resolver.stores.dynamodb_codec import run_from_item, s
from lambda_resolver.stores.dynamodb_schema import (
    CREATED_SK,
    PK,
    RUNS_INDEX,
    RUNS_PK,
    SK,
    created_sk,
    runs_pk,
)
from lambda_resolver.stores.dynamodb_table import Expr, Key, Table


class RunHistory:
    """The history half of :class:`~lambda_resolver.stores.dynamodb.DynamoStore`."""

    _table: Table

    if TYPE_CHECKING:

        def run_flows(self) -> list[str]:
            """Every flow that has runs (RunTasks)."""
            ...

    def list_runs(
        self,
        *,
        flow: str | None = None,
        state: RunState | None = None,
        limit: int = 100,
        before: tuple[int, str] | None = None,
    ) -> list[Run]:
        """Newest first, from the ``runs`` index (one partition per flow; every flow's newest
        ``limit`` merged when no flow is given); the records are then read consistently and
        re-checked against the filter (the index is eventually consistent)."""
        if limit <= 0:
            return []
        names = [flow] if flow is not None else self.run_flows()
        found: list[tuple[str, Key]] = []
        for name in names:
            found += self._run_keys(name, state, limit, before)
        found.sort(key=lambda hit: hit[0], reverse=True)
        keys = [key for _, key in found[:limit]]
        by_pk = {it[PK]["S"]: run_from_item(it) for it in self._table.batch_get(keys)}
        runs = [by_pk[k[PK]["S"]] for k in keys if k[PK]["S"] in by_pk]
        return [r for r in runs if state is None or r.state is state]

    def _run_keys(
        self, flow: str, state: RunState | None, limit: int, before: tuple[int, str] | None
    ) -> list[tuple[str, Key]]:
        """Up to ``limit`` of one flow's runs from the index: (sort key, table key), newest first."""
        e = Expr()
        cond = f"{e.n(RUNS_PK)} = {e.v(s(runs_pk(flow)))}"
        if before is not None:
            cond += f" AND {e.n(CREATED_SK)} < {e.v(s(created_sk(*before)))}"
        kwargs: dict[str, Any] = {}
        if state is not None:
            kwargs["FilterExpression"] = f"{e.n('state')} = {e.v(s(state.value))}"
        out: list[tuple[str, Key]] = []
        for hit in self._table.query(
            IndexName=RUNS_INDEX,
            KeyConditionExpression=cond,
            ScanIndexForward=False,
            Limit=limit,
            **kwargs,
            **e.kwargs(),
        ):
            out.append((hit[CREATED_SK]["S"], {PK: hit[PK], SK: hit[SK]}))
            if len(out) >= limit:
                break
        return out
