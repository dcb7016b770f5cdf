"""Invariant 4: settling one task costs O(its out-degree) store operations, whatever the flow size."""

from __future__ import annotations

import pytest

from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import PromiseState
from lambda_resolver.core.store import Store

from support.counting import CountingStore
from support.flows import chain, flow, job_task
from support.harness import Harness


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Store:
    """SQLite and moto only: the counts are of the store's own calls, which do not depend on the
    engine underneath (DynamoDB Local would count the same, at 1,000 tasks' cost)."""
    fixture: Store = request.getfixturevalue(f"{request.param}_store")
    return fixture


def _settle_cost(store: Store, manifest: FlowManifest, key: str, *, before: list[str]) -> dict[str, int]:
    counting = CountingStore(store)
    h = Harness(counting)  # type: ignore[arg-type]
    h.publish(manifest)
    run = h.start(manifest.name, run_id=f"r-{manifest.name}")
    for k in before:
        h.succeed(run, k)
    promise_id = h.task(run, key).promise_id or ""
    counting.reset()
    h.engine.settle(promise_id, PromiseState.RESOLVED, value={"rows": 1})
    return dict(counting.calls)


def test_settling_a_task_in_a_chain_costs_the_same_at_10_100_and_1000_tasks(store: Store) -> None:
    costs = {
        n: _settle_cost(store, chain(f"c{n}", n), "t3", before=["t0", "t1", "t2"]) for n in (10, 100, 1000)
    }
    assert costs[10] == costs[100] == costs[1000], costs
    assert sum(costs[1000].values()) <= 6, costs[
        1000
    ]  # 5: read, settle + finish, deliver + claim, start, count off
    assert "list_tasks" not in costs[1000] and "list_runs" not in costs[1000]


def test_settling_a_task_costs_linear_in_its_out_degree(store: Store) -> None:
    def star(d: int) -> FlowManifest:
        return flow(
            f"star{d}",
            [job_task("root"), *(job_task(f"c{i}", ["root"]) for i in range(d))],
            max_concurrent_runs=10,
        )

    small, large = (sum(_settle_cost(store, star(d), "root", before=[]).values()) for d in (5, 50))
    per_child = (large - small) / 45
    assert per_child == int(per_child) and per_child <= 8, (small, large)
