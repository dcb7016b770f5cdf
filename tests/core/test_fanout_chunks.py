"""A wide fan-out in bounded chunks: no invocation delivers more than ``fanout_inline`` children,
the rest are handed on; the parent counts as propagated only once every edge was delivered, and a
lost hand-off is finished by the reconciler in the same bounded chunks."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core import fanout
from lambda_resolver.core.fanout import Chunk, FanoutWorker
from lambda_resolver.core.models import Run, RunState, TaskState
from lambda_resolver.stores.sqlite import SqliteStore

from support.flows import flow, job_task
from support.harness import SETTINGS, Harness


class CountingStore:
    """A store that counts edge deliveries, per invocation (the test says when one begins)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.per_invocation: list[int] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def begin(self) -> None:
        self.per_invocation.append(0)

    def _count(self) -> None:
        with self._lock:
            self.per_invocation[-1] += 1

    def deliver_edge(self, *args: Any, **kwargs: Any) -> Any:
        self._count()
        return self.inner.deliver_edge(*args, **kwargs)

    def deliver_and_claim(self, *args: Any, **kwargs: Any) -> Any:
        self._count()  # a one-parent child: its edge and its claim in one write
        return self.inner.deliver_and_claim(*args, **kwargs)


class Wide:
    """``root → c0..c{n-1}``; hand-offs go to ``queue``, each drained chunk is one invocation."""

    def __init__(self, tmp_path: Path, n: int, *, inline: int, workers: int, **settings_: int) -> None:
        self.store = CountingStore(SqliteStore(tmp_path / "lh.db"))
        settings = SETTINGS._replace(fanout_inline=inline, fanout_workers=workers, **settings_)
        self.h = Harness(self.store, settings=settings)  # type: ignore[arg-type]
        self.queue: list[Chunk] = []
        self.h.ctx.handoff = self.queue.append
        self.n = n
        self.h.publish(flow("wide", [job_task("root"), *(job_task(f"c{i}", ["root"]) for i in range(n))]))
        self.run: Run = self.h.start("wide")
        self.starts_per_invocation: list[int] = []

    def invocation(self, work: Any) -> Any:
        self.store.begin()
        before = sum(self.h.launcher.started.values())
        try:
            return work()
        finally:
            self.starts_per_invocation.append(sum(self.h.launcher.started.values()) - before)

    def settle_root(self) -> None:
        self.invocation(lambda: self.h.succeed(self.run, "root"))

    def drain(self) -> list[str]:
        said = []
        while self.queue:
            chunk = self.queue.pop(0)
            said.append(self.invocation(lambda chunk=chunk: fanout.resume(self.h.engine.advancer, chunk)))
        return said

    def children_started_once(self) -> None:
        launcher = self.h.launcher
        assert launcher.duplicates == {}
        assert sum(launcher.started.values()) == self.n + 1  # root and every child, once each
        states = Counter(self.h.states(self.run).values())
        assert states == Counter({"RUNNING": self.n, "SUCCESS": 1}), states


def test_a_thousand_wide_fan_out_completes_through_bounded_invocations(tmp_path: Path) -> None:
    w = Wide(tmp_path, 1000, inline=100, workers=4)
    w.settle_root()
    assert [c.offset for c in w.queue] == [100]  # the next chunk only: a chain, not a burst
    assert not w.h.task(w.run, "root").propagated
    said = w.drain()
    assert said == ["delivered"] * 8 + ["completed"]
    assert w.store.per_invocation == [100] * 10  # each invocation delivered its own chunk only
    assert max(w.starts_per_invocation) <= 100
    w.children_started_once()
    assert w.h.task(w.run, "root").propagated
    assert w.h.task(w.run, "root").due_at is None  # nothing left due for the reconciler


def test_the_parent_is_counted_off_only_by_its_last_chunk(tmp_path: Path) -> None:
    w = Wide(tmp_path, 7, inline=3, workers=1)
    w.settle_root()
    for offset in (3, 6):
        assert not w.h.task(w.run, "root").propagated  # children from `offset` on have no edge yet
        assert [c.offset for c in w.queue] == [offset]
        assert w.h.task(w.run, f"c{offset}").state is TaskState.WAITING
        w.invocation(lambda: fanout.resume(w.h.engine.advancer, w.queue.pop(0)))
    assert w.h.task(w.run, "root").propagated
    assert w.store.per_invocation == [3, 3, 1]
    w.children_started_once()


def test_a_lost_hand_off_is_finished_by_the_reconciler_in_chunks(tmp_path: Path) -> None:
    w = Wide(tmp_path, 250, inline=100, workers=4)
    w.settle_root()
    w.queue.clear()  # the asynchronous event never arrives
    w.h.clock.advance(SETTINGS.propagate_grace_ms + SETTINGS.check_interval_ms + 1)
    passes = []
    for _ in range(10):  # a scheduled invocation: passes until nothing is due
        w.store.begin()
        passes.append(w.h.engine.reconcile())
        if not passes[-1]:
            break
    assert sum(p.get("propagated", 0) for p in passes) == 1  # kept due meanwhile: no second chain
    assert sum(w.store.per_invocation[-len(passes) :]) == 100  # the first chunk again, only it
    assert [c.offset for c in w.queue] == [100]  # and the next one handed on again
    assert w.drain() == ["delivered", "completed"]
    assert w.store.per_invocation[-2:] == [100, 50]
    w.children_started_once()
    assert w.h.task(w.run, "root").due_at is None


def test_a_hand_off_that_fails_leaves_the_parent_due(tmp_path: Path) -> None:
    w = Wide(tmp_path, 5, inline=2, workers=1)

    def down(chunk: Chunk) -> None:
        raise ConnectionError("Lambda is unreachable")

    w.h.ctx.handoff = down
    w.settle_root()  # the settle itself succeeds
    assert not w.h.task(w.run, "root").propagated
    w.h.ctx.handoff = w.queue.append
    w.h.advance(SETTINGS.propagate_grace_ms + SETTINGS.check_interval_ms + 1)
    w.drain()
    w.children_started_once()
    assert w.h.task(w.run, "root").propagated


def test_a_chunk_delivered_twice_starts_nothing_twice(tmp_path: Path) -> None:
    w = Wide(tmp_path, 6, inline=2, workers=2)
    w.settle_root()
    chunk = w.queue.pop(0)
    w.invocation(lambda: fanout.resume(w.h.engine.advancer, chunk))
    w.invocation(lambda: fanout.resume(w.h.engine.advancer, chunk))  # Lambda delivered it again
    assert [c.offset for c in w.queue] == [4, 4]  # two chains now: each delivers, one counts off
    assert w.drain() == ["completed", "stale"]
    w.children_started_once()
    run = w.h.run(w.run)
    assert run.open_leaves == 6  # the root is no leaf: counted off once, nothing counted twice


def test_without_a_hand_off_the_chunks_run_in_turn_in_the_same_call(tmp_path: Path) -> None:
    w = Wide(tmp_path, 9, inline=2, workers=3)
    w.h.ctx.handoff = None
    w.settle_root()
    assert w.queue == []
    w.children_started_once()
    assert w.h.task(w.run, "root").propagated


def test_a_stale_chunk_changes_nothing(tmp_path: Path) -> None:
    w = Wide(tmp_path, 4, inline=2, workers=1)
    assert fanout.resume(w.h.engine.advancer, Chunk(w.run.run_id, "root", 2)) == "stale"  # not finished
    assert fanout.resume(w.h.engine.advancer, Chunk("no-such-run", "root", 2)) == "stale"
    w.settle_root()
    finished_at = w.h.task(w.run, "root").settled_at
    assert (
        fanout.resume(w.h.engine.advancer, Chunk(w.run.run_id, "root", 9, finished_at)) == "stale"
    )  # past the end
    earlier = Chunk(
        w.run.run_id, "root", 2, (finished_at or 0) - 1
    )  # a chain of an earlier finish (repaired)
    assert fanout.resume(w.h.engine.advancer, earlier) == "stale"
    assert w.h.task(w.run, "c2").state is TaskState.WAITING  # it delivered nothing
    w.drain()
    assert fanout.resume(w.h.engine.advancer, Chunk(w.run.run_id, "root", 2)) == "stale"  # counted off
    w.children_started_once()


@pytest.mark.parametrize(
    "doc",
    [
        None,
        {},
        {"run_id": "r", "task_key": "t"},
        {"run_id": "r", "task_key": "t", "offset": 0},
        {"run_id": "r", "task_key": "t", "offset": True},
        {"run_id": "r", "task_key": "t", "offset": 2, "finished_at": "yesterday"},
    ],
)
def test_a_malformed_chunk_is_refused_with_its_shape(doc: Any) -> None:
    with pytest.raises(ValueError, match=r"run_id: str, task_key: str, offset: int >= 1, finished_at\?: int"):
        Chunk.from_json(doc)


def test_a_worker_thread_delivers_the_chunks_as_the_local_stack_does(tmp_path: Path) -> None:
    w = Wide(tmp_path, 30, inline=4, workers=1)
    worker = FanoutWorker(w.h.engine.advancer)
    w.h.ctx.handoff = worker
    try:
        w.settle_root()
        for t in [w.h.task(w.run, f"c{i}") for i in range(30)]:
            _wait_for(lambda t=t: w.h.task(w.run, t.key).state is TaskState.RUNNING)
        _wait_for(lambda: w.h.task(w.run, "root").propagated)
    finally:
        worker.close()
    w.children_started_once()
    for i in range(30):
        w.h.succeed(w.run, f"c{i}")
    assert w.h.run(w.run).state is RunState.SUCCESS


def _wait_for(check: Any, timeout_s: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout_s / 0.01)):
        if check():
            return
        done.wait(0.01)
    raise AssertionError("timed out waiting")


def test_a_counted_off_parent_left_due_by_a_racing_hand_off_is_cleared_by_the_reconciler(
    tmp_path: Path,
) -> None:
    hour = 3_600_000  # the running children are not due meanwhile: only the parent is
    w = Wide(tmp_path, 4, inline=2, workers=1, check_interval_ms=hour)
    w.settle_root()
    w.drain()
    root = w.h.task(w.run, "root")
    assert root.propagated and root.due_at is None
    # A second chain kept it due just after the first one counted it off.
    w.h.ctx.writes.set_task_fields(
        w.run.run_id, "root", {"due_at": w.h.clock.now()}, while_in=root.state, attempt=root.attempt
    )
    assert w.h.engine.reconcile() == {"stale": 1}
    assert w.h.task(w.run, "root").due_at is None
    assert w.h.engine.reconcile() == {}  # not found again, pass after pass
