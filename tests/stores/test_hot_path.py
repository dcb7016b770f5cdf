"""The hot path on DynamoDB: how many requests, one after another, from a notebook's callback to
the next task's run-now, and which — counted at the client, so every request the store makes
is seen. The figures for the whole path are in docs/benchmarks.md; this pins them so they do not
creep back up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lambda_resolver.core.models import PromiseState
from lambda_resolver.stores.dynamodb import DynamoStore

from support.aws import moto_table
from support.fakes import FakeLauncher
from support.flows import chain
from support.harness import Harness


class Recording:
    """A botocore-shaped client that records each request's operation, in order."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.ops = inner, list[str]()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if (
            not callable(attr)
            or name in ("get_waiter", "get_paginator", "can_paginate")
            or name.startswith("_")
        ):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.ops.append(name)
            return attr(*args, **kwargs)

        return call


class MarkingLauncher(FakeLauncher):
    """Notes how many requests the store had made when each run-now went out."""

    def __init__(self, client: Recording) -> None:
        super().__init__()
        self.client, self.at_trigger = client, list[int]()

    def trigger(self, request: Any) -> Any:
        self.at_trigger.append(len(self.client.ops))
        return super().trigger(request)


@pytest.fixture
def h(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Harness, Recording, MarkingLauncher]]:
    with moto_table(monkeypatch, "lh-hot") as raw:
        client = Recording(raw)
        launcher = MarkingLauncher(client)
        yield Harness(DynamoStore("lh-hot", client=client), launcher=launcher), client, launcher


def test_a_callback_reaches_the_next_run_now_in_a_bounded_number_of_requests(
    h: tuple[Harness, Recording, MarkingLauncher],
) -> None:
    harness, client, launcher = h
    harness.publish(chain("c", 3))
    run = harness.start("c")
    first = harness.task(run, "t0")
    assert first.promise_id is not None
    start = len(client.ops)
    launcher.at_trigger.clear()
    harness.engine.settle(first.promise_id, PromiseState.RESOLVED, value={"rows": 1})
    (at,) = launcher.at_trigger
    before_run_now = client.ops[start:at]
    # read the promise, settle it, read the run, read the task, finish it, deliver the edge, claim
    # the child, create its attempt's promise — no record read twice (it was 17 requests)
    assert before_run_now == [
        "get_item",
        "update_item",
        "get_item",
        "get_item",
        "update_item",
        "update_item",
        "update_item",
        "put_item",
    ]
