"""The for_each loop methods of the store, one contract for SQLite, moto and DynamoDB Local: a
claim is one conditional write on the loop's next index (with a free slot), counting an
iteration off happens once, and both hold when many callers race for them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lambda_resolver.core.errors import StoreConflict
from lambda_resolver.core.iterations import Iteration, IterationState, Loop, iteration_promise_id
from lambda_resolver.core.models import Promise, PromiseState
from lambda_resolver.core.store import Store

RUN = "r-1"
RACERS = {"sqlite": 16, "dynamodb_local": 16, "dynamodb": 6}


def loop_of(inputs: list[Any], concurrency: int = 2, attempt: int = 1) -> Loop:
    return Loop(RUN, "fe", attempt, tuple(inputs), concurrency, created_at=1)


def claim_args(loop: Loop, index: int) -> tuple[Iteration, Promise]:
    pid = iteration_promise_id(RUN, "fe", loop.attempt, index)
    it = Iteration(index, loop.inputs[index], IterationState.RUNNING, 1, pid, triggered_at=5)
    p = Promise(
        pid,
        PromiseState.PENDING,
        created_at=5,
        timeout_at=10_000,
        run_id=RUN,
        task_key="fe",
        attempt=loop.attempt,
        iteration=index,
        job={"job_id": 1, "params": {"x": str(loop.inputs[index])}},
        due_at=5,
    )
    return it, p


def claim(store: Store, loop: Loop, index: int) -> Loop:
    return store.claim_iteration(loop, *claim_args(loop, index))


def all_at_once(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)

    def go(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        except StoreConflict as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_a_loop_is_created_once_and_read_back(store: Store) -> None:
    loop = loop_of(["a", {"b": 1}, 3])
    stored, created = store.create_loop(loop)
    again, created_again = store.create_loop(loop_of(["other"]))
    assert created and not created_again
    assert again == stored == store.get_loop(RUN, "fe", 1)
    assert again.inputs == ("a", {"b": 1}, 3) and again.counts() == {"total": 3, "PENDING": 3}
    assert store.get_loop(RUN, "fe", 2) is None


def test_a_claim_stores_the_iteration_and_its_promise_in_one_write(store: Store) -> None:
    loop, _ = store.create_loop(loop_of(["a", "b", "c"]))
    after = claim(store, loop, 0)
    assert (after.next, after.active) == (1, 1)
    pid = iteration_promise_id(RUN, "fe", 1, 0)
    p = store.get_promise(pid)
    assert p is not None and p.iteration == 0 and p.job == {"job_id": 1, "params": {"x": "a"}}
    assert any(d.kind == "promise" and d.id == pid for d in store.due(10))
    it = store.get_iteration(RUN, "fe", 1, 0)
    assert it is not None and (it.state, it.promise_id, it.input) == (IterationState.RUNNING, pid, "a")


def test_a_claim_holds_only_for_the_next_index_a_free_slot_and_a_running_loop(store: Store) -> None:
    loop, _ = store.create_loop(loop_of(["a", "b", "c"], concurrency=2))
    with pytest.raises(StoreConflict) as lost:
        claim(store, loop, 1)  # not the next one
    assert lost.value.current.next == 0
    loop = claim(store, claim(store, loop, 0), 1)
    with pytest.raises(StoreConflict) as full:
        claim(store, loop, 2)  # two are active: no free slot
    assert full.value.current.active == 2
    assert store.get_promise(iteration_promise_id(RUN, "fe", 1, 2)) is None  # nothing half-written
    stopped = store.stop_loop(RUN, "fe", 1)
    assert stopped is not None and stopped.stopped
    assert store.stop_loop(RUN, "fe", 9) is None


def test_an_iteration_is_counted_once_and_a_retry_keeps_its_slot(store: Store) -> None:
    loop, _ = store.create_loop(loop_of(["a", "b"]))
    loop = claim(store, claim(store, loop, 0), 1)
    first = iteration_promise_id(RUN, "fe", 1, 0)
    retry = claim_args(loop, 0)[1].replace(id=iteration_promise_id(RUN, "fe", 1, 0, 2), due_at=50)
    moved = store.finish_iteration(loop, 0, promise_id=first, changes={"error": {"m": "x"}}, retry=retry)
    assert moved is not None and moved.counts() == {"total": 2, "RUNNING": 2}
    it = store.get_iteration(RUN, "fe", 1, 0)
    assert it is not None and (it.tries, it.promise_id, it.state) == (2, retry.id, IterationState.RUNNING)
    assert store.get_promise(retry.id) is not None
    # the first try again (a duplicate settle): it is not the iteration's promise any more
    assert store.finish_iteration(loop, 0, promise_id=first, changes={"state": "FAILED"}) is None
    done = store.finish_iteration(loop, 0, promise_id=retry.id, changes={"state": "SUCCESS", "value": 1})
    assert done is not None and done.counts() == {"total": 2, "RUNNING": 1, "SUCCESS": 1}
    assert store.finish_iteration(loop, 0, promise_id=retry.id, changes={"state": "SUCCESS"}) is None
    it = store.get_iteration(RUN, "fe", 1, 0)
    assert it is not None and (it.state, it.value) == (IterationState.SUCCESS, 1)


def test_iterations_are_listed_page_by_page_in_index_order(store: Store) -> None:
    loop, _ = store.create_loop(loop_of(list(range(12)), concurrency=12))
    for i in range(12):
        loop = claim(store, loop, i)
    store.create_loop(loop_of([0], attempt=2))  # another attempt's loop is not listed
    first = store.list_iterations(RUN, "fe", 1, start=0, limit=5)
    rest = store.list_iterations(RUN, "fe", 1, start=first[-1].index + 1, limit=100)
    assert [i.index for i in first] == [0, 1, 2, 3, 4]
    assert [i.index for i in rest] == list(range(5, 12))
    assert store.list_iterations(RUN, "fe", 2) == []


def test_racing_claims_never_pass_the_concurrency_and_claim_each_index_once(
    store: Store, store_kind: str
) -> None:
    n = RACERS[store_kind]
    loop, _ = store.create_loop(loop_of(list(range(n)), concurrency=3))

    def racer(_: int) -> int:
        current = loop
        won = 0
        while current.next < current.total and current.active < current.concurrency:
            try:
                current = claim(store, current, current.next)
                won += 1
            except StoreConflict as exc:
                current = exc.current
        return won

    wins = all_at_once(n, racer)
    after = store.get_loop(RUN, "fe", 1)
    assert after is not None and (after.next, after.active) == (3, 3)
    assert sum(wins) == 3
    assert [i.index for i in store.list_iterations(RUN, "fe", 1)] == [0, 1, 2]


def test_racing_settles_count_each_iteration_once(store: Store, store_kind: str) -> None:
    n = RACERS[store_kind]
    loop, _ = store.create_loop(loop_of(list(range(n)), concurrency=n))
    for i in range(n):
        loop = claim(store, loop, i)

    def settle(i: int) -> bool:  # two settles per iteration, every iteration at once
        index = i // 2
        pid = iteration_promise_id(RUN, "fe", 1, index)
        return store.finish_iteration(loop, index, promise_id=pid, changes={"state": "SUCCESS"}) is not None

    pairs = n // 2
    counted = all_at_once(2 * pairs, settle)
    assert sum(bool(c) for c in counted) == pairs
    after = store.get_loop(RUN, "fe", 1)
    assert after is not None and after.ended == {"SUCCESS": pairs} and after.active == n - pairs
