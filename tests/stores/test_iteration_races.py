"""Races of a for_each loop through the engine, on SQLite, moto and DynamoDB Local: iterations
settled all at once (each by its notebook and its webhook together) are each counted once, the
freed slots are each claimed once, never more than ``concurrency`` run, and the loop settles once."""

from __future__ import annotations

import json

from lambda_resolver.core.iterations import iteration_promise_id
from lambda_resolver.core.models import PromiseState, TaskState
from lambda_resolver.core.store import Store

from support.flows import flow, for_each_task, job_task
from support.harness import Harness
from support.races import at_once

WIDTH = {"sqlite": 8, "dynamodb_local": 8, "dynamodb": 4}


def iteration_runs(h: Harness) -> list[str]:
    return [r.request.promise_id for r in h.launcher.runs.values() if ".fe." in r.request.promise_id]


def test_iterations_settled_at_once_are_counted_once_and_free_their_slots_once(
    store: Store, store_kind: str
) -> None:
    width = WIDTH[store_kind]
    h = Harness(store)
    inputs = list(range(2 * width))
    h.publish(
        flow("race", [for_each_task("fe", json.dumps(inputs), concurrency=width), job_task("after", ["fe"])])
    )
    run = h.start("race")
    for wave in range(2):
        pids = [iteration_promise_id(run.run_id, "fe", 1, wave * width + i) for i in range(width)]
        assert sorted(iteration_runs(h)[wave * width :]) == sorted(pids)
        for pid in pids:
            h.launcher.end(h.launcher.run_for(pid).run_id, "SUCCESS", output=1, at=0)
        signals = [lambda pid=pid: h.engine.settle(pid, PromiseState.RESOLVED, value=1) for pid in pids]
        signals += [  # each iteration's webhook arrives with its notebook's callback
            lambda pid=pid: h.engine.on_databricks_run(h.launcher.run_for(pid).run_id) for pid in pids
        ]
        answers = at_once(*signals)
        assert all(a.ok for a in answers), [a.error for a in answers if not a.ok]
        loop = h.store.get_loop(run.run_id, "fe", 1)
        assert loop is not None and loop.ended == {"SUCCESS": (wave + 1) * width}
        assert loop.active == (width if wave == 0 else 0)
    assert len(iteration_runs(h)) == 2 * width and not h.launcher.duplicates
    claims = [e for e in h.events if e[0] == "iteration_claimed"]
    assert sorted(e[1]["index"] for e in claims) == inputs
    assert h.task(run, "fe").state is TaskState.SUCCESS
    assert [e for e in h.events if e[0] == "task_finished" and e[1]["task_key"] == "fe"] != []
    assert h.task(run, "after").state is TaskState.RUNNING
