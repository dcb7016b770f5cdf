"""Races on real stores: SQLite and DynamoDB Local with no lock at all, moto behind one lock.

DynamoDB Local is Amazon's own engine, so its runs are the proof that the conditional writes
and transactions hold under truly concurrent clients; moto (not atomic under parallel requests)
only shows the same code paths serialized, so it runs fewer rounds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from lambda_resolver.core.errors import AlreadySettled
from lambda_resolver.core.models import PromiseState, TaskState
from lambda_resolver.core.promise_machine import Verdict
from lambda_resolver.core.store import Store

from support.flows import flow, job_task
from support.harness import Harness

FAN_IN = 32
# Rounds per store: every round is a new race. moto takes one call at a time behind its lock,
# ~3 s a fan-in round; the proof on a real engine is DynamoDB Local's.
FAN_IN_ROUNDS = {"sqlite": 20, "dynamodb_local": 20, "dynamodb": 3}
SETTLE_ROUNDS = {"sqlite": 5, "dynamodb_local": 5, "dynamodb": 1}
RECONCILE_ROUNDS = {"sqlite": 5, "dynamodb_local": 5, "dynamodb": 1}


def _all_at_once(n: int, fn: Callable[[int], object]) -> list[object]:
    barrier = threading.Barrier(n)

    def go(i: int) -> object:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_a_fan_in_child_is_claimed_exactly_once_when_all_parents_settle_at_once(
    store: Store, store_kind: str
) -> None:
    h = Harness(store)
    parents = [job_task(f"p{i}") for i in range(FAN_IN)]
    h.publish(flow("fan", [*parents, job_task("child", [p.key for p in parents])], max_concurrent_runs=100))
    rounds = FAN_IN_ROUNDS[store_kind]
    for rep in range(rounds):
        run = h.start("fan", run_id=f"rep-{rep}")
        promises = [h.task(run, f"p{i}").promise_id or "" for i in range(FAN_IN)]
        _all_at_once(FAN_IN, lambda i, ps=promises: h.engine.settle(ps[i], PromiseState.RESOLVED, value=i))
        child = h.task(run, "child")
        assert (child.state, child.attempt, child.waiting) == (TaskState.RUNNING, 1, 0), rep
        claims = [
            e
            for e in h.events
            if e[0] == "task_claimed" and e[1]["run_id"] == run.run_id and e[1]["task_key"] == "child"
        ]
        assert len(claims) == 1, rep
    assert h.launcher.duplicates == {}
    assert len(h.launcher.runs) == rounds * (FAN_IN + 1)


def test_fifty_identical_settles_apply_once_and_answer_the_same(store: Store, store_kind: str) -> None:
    h = Harness(store)
    for rep in range(SETTLE_ROUNDS[store_kind]):
        pid = f"p{rep}"
        h.engine.standalone.create(pid, timeout_s=60)
        results = _all_at_once(
            50, lambda i, pid=pid: h.engine.settle(pid, PromiseState.RESOLVED, value={"v": 1})
        )
        verdicts = [r.verdict for r in results]  # type: ignore[attr-defined]
        assert verdicts.count(Verdict.APPLY) == 1 and verdicts.count(Verdict.DUPLICATE) == 49, rep
        stored = h.engine.get_promise(pid)
        assert {r.promise.settled_at for r in results} == {stored.settled_at}, rep  # type: ignore[attr-defined]
        assert stored.state is PromiseState.RESOLVED and stored.value == {"v": 1}


def test_resolve_racing_reject_has_exactly_one_winner(store: Store) -> None:
    h = Harness(store)
    for rep in range(10):
        pid = f"p{rep}"
        h.engine.standalone.create(pid, timeout_s=60)

        def settle(i: int, pid: str = pid) -> str:
            try:
                if i % 2:
                    h.engine.settle(pid, PromiseState.RESOLVED, value=1)
                else:
                    h.engine.settle(pid, PromiseState.REJECTED, error={"message": "no"})
            except AlreadySettled:
                return "conflict"
            return "ok"

        outcomes = _all_at_once(8, settle)
        final = h.engine.get_promise(pid).state
        winners = 4  # the four requests that agree with the winner answer 200
        assert outcomes.count("ok") == winners and outcomes.count("conflict") == 8 - winners
        assert final in (PromiseState.RESOLVED, PromiseState.REJECTED)


def test_two_reconcilers_at_once_start_a_due_retry_once(store: Store, store_kind: str) -> None:
    h = Harness(store)
    h.publish(
        flow(
            "f",
            [job_task(f"t{i}", max_retries=1, min_retry_interval_ms=1000) for i in range(10)],
            max_concurrent_runs=100,
        )
    )
    rounds = RECONCILE_ROUNDS[store_kind]
    for rep in range(rounds):
        run = h.start("f", run_id=f"rep-{rep}")
        for i in range(10):
            h.fail(run, f"t{i}")
        h.clock.advance(1000)
        _all_at_once(2, lambda i: h.engine.reconcile())
        tasks = store.list_tasks(run.run_id)
        assert all(t.attempt == 2 and t.state is TaskState.RUNNING for t in tasks), rep
    assert h.launcher.duplicates == {} and len(h.launcher.runs) == rounds * 20
