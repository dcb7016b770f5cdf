"""On DynamoDB a page of one flow's history costs the same however many runs other flows have."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from lambda_resolver.core.models import Run, RunState
from lambda_resolver.stores.dynamodb import DynamoStore

from support.aws import moto_table

NOW = 1_764_000_000_000


class _Counting:
    """A botocore-shaped client that counts the requests it passes on, by operation."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, Counter[str]()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or (name.startswith("get_") and name != "get_item"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DynamoStore, _Counting]]:
    with moto_table(monkeypatch, "lh-history") as client:
        counting = _Counting(client)
        yield DynamoStore("lh-history", client=counting), counting


def _make(store: DynamoStore, flow: str, n: int) -> None:
    for i in range(n):
        run = Run(run_id=f"{flow}-{i}", flow=flow, flow_version=1, state=RunState.PENDING, created_at=NOW + i)
        store.create_run(run, [])


def _page_cost(store: DynamoStore, counting: _Counting) -> int:
    counting.calls.clear()
    assert len(store.list_runs(flow="alpha", limit=5)) == 5
    return sum(counting.calls.values())


def test_one_flows_page_does_not_read_other_flows_runs(counted: tuple[DynamoStore, _Counting]) -> None:
    store, counting = counted
    _make(store, "alpha", 12)
    alone = _page_cost(store, counting)
    _make(store, "beta", 150)
    crowded = _page_cost(store, counting)
    assert crowded == alone == 2  # one index query, one batch read
