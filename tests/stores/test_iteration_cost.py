"""Settling one iteration of a for_each loop costs the same store operations whether the loop has
10 or 2,000 inputs: it reads and writes the iteration, its loop's counters and the next iteration
it claims — never the list of iterations."""

from __future__ import annotations

import json

import pytest

from lambda_resolver.core.iterations import iteration_promise_id
from lambda_resolver.core.models import PromiseState
from lambda_resolver.core.store import Store

from support.counting import CountingStore
from support.flows import flow, for_each_task
from support.harness import Harness


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Store:
    fixture: Store = request.getfixturevalue(f"{request.param}_store")
    return fixture


def _settle_cost(store: Store, inputs: int) -> dict[str, int]:
    counting = CountingStore(store)
    h = Harness(counting)  # type: ignore[arg-type]
    name = f"loop{inputs}"
    h.publish(flow(name, [for_each_task("fe", json.dumps(list(range(inputs))), concurrency=5)]))
    run = h.start(name, run_id=f"r-{name}")
    h.engine.settle(iteration_promise_id(run.run_id, "fe", 1, 0), PromiseState.RESOLVED, value=0)
    counting.reset()
    h.engine.settle(iteration_promise_id(run.run_id, "fe", 1, 1), PromiseState.RESOLVED, value=1)
    return dict(counting.calls)


def test_settling_an_iteration_costs_the_same_at_10_and_2000_inputs(store: Store) -> None:
    costs = {n: _settle_cost(store, n) for n in (10, 2000)}
    assert costs[10] == costs[2000], costs
    assert "list_iterations" not in costs[2000] and "list_tasks" not in costs[2000]
    assert costs[2000]["claim_iteration"] == 1 and costs[2000]["finish_iteration"] == 1
    assert sum(costs[2000].values()) <= 14, costs[2000]
