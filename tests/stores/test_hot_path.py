"""The hot path on DynamoDB: how many requests, one after another, from a notebook's callback to
the next task's run-now, and which — counted at the client, so every request the store makes
is seen. The figures for the whole path are in docs/benchmarks.md; this pins them so they do not
creep back up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lambda_resolver.core.models import PromiseState, TaskState
from lambda_resolver.stores.dynamodb import DynamoStore

from support.aws import moto_table
from support.fakes import FakeLauncher
from support.flows import chain, flow, job_task
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


@pytest.fixture(params=["moto", "dynamodb_local"])
def h(request: pytest.FixtureRequest) -> Iterator[tuple[Harness, Recording, MarkingLauncher]]:
    """A harness on a DynamoStore whose client is recorded: moto, then DynamoDB Local."""
    if request.param == "moto":
        with moto_table(request.getfixturevalue("monkeypatch"), "lh-hot") as raw:
            yield _recorded(raw, "lh-hot")
    else:
        raw, table = request.getfixturevalue("dynamodb_local_table")
        yield _recorded(raw, table)


def _recorded(raw: Any, table: str) -> tuple[Harness, Recording, MarkingLauncher]:
    client = Recording(raw)
    launcher = MarkingLauncher(client)
    return Harness(DynamoStore(table, client=client), launcher=launcher), client, launcher


def _requests_to_run_now(
    harness: Harness, client: Recording, launcher: MarkingLauncher, key: str
) -> list[str]:
    """The requests from settling task ``key``'s promise to the next run-now, in order."""
    run = harness.engine.list_runs().runs[0]
    task = harness.task(run.run_id, key)
    assert task.promise_id is not None
    start = len(client.ops)
    launcher.at_trigger.clear()
    harness.engine.settle(task.promise_id, PromiseState.RESOLVED, value={"rows": 1})
    at = launcher.at_trigger[0]
    return client.ops[start:at]


def test_a_callback_reaches_the_next_run_now_in_a_bounded_number_of_requests(
    h: tuple[Harness, Recording, MarkingLauncher],
) -> None:
    harness, client, launcher = h
    harness.publish(chain("c", 3))
    harness.start("c")
    # read the task (its attempt's promise inside) and the run in one request; settle the promise
    # and finish the task in one write; deliver the edge and claim the child (its promise inside)
    # in one write — nothing read twice (it was 17 requests, then 8)
    assert _requests_to_run_now(harness, client, launcher, "t0") == [
        "batch_get_item",
        "update_item",
        "update_item",
    ]
    # and the child's attempt is whole: its promise settles as the first one did
    assert harness.task(harness.engine.list_runs().runs[0].run_id, "t1").state is TaskState.RUNNING
    assert _requests_to_run_now(harness, client, launcher, "t1") == [
        "batch_get_item",
        "update_item",
        "update_item",
    ]


def test_a_fan_in_reaches_its_run_now_in_four_requests(
    h: tuple[Harness, Recording, MarkingLauncher],
) -> None:
    harness, client, launcher = h
    harness.publish(flow("fanin", [job_task("a"), job_task("b"), job_task("c", ["a", "b"])]))
    run = harness.start("fanin")
    harness.succeed(run, "a", {"rows": 1})
    assert harness.task(run, "c").state is TaskState.WAITING
    # the last parent: read, settle and finish, deliver (the child has two outcomes to weigh),
    # then claim it with its attempt's promise
    assert _requests_to_run_now(harness, client, launcher, "b") == [
        "batch_get_item",
        "update_item",
        "update_item",
        "update_item",
    ]
