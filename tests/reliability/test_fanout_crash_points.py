"""Invariant 6 for a fan-out handed on in chunks (core/fanout.py): a crash at any point — between
two hand-offs, inside a chunk's invocation, right after a hand-off — loses nothing and starts no
child twice; a chunk delivered twice changes nothing; hand-offs dropped are finished by the
reconciler, in the same bounded chunks.

The life: ``root → c0..c4`` with ``fanout_inline`` 2, so root's settle delivers c0, c1 and hands
on the chunk at 2, whose invocation delivers c2, c3 and hands on the chunk at 4, which counts
root off. The hand-offs go to the world's event queue (Lambda's, for an asynchronous invoke): it
outlives the resolver. Each queued chunk is one invocation. For every operation n of the life it
is lived again with the process killed after operation n, then a new resolver carries on:

- ``retried``: the reconciler runs first, then the request in flight is sent again (a callback
  retried; a chunk's event retried by Lambda, as it retries a failed asynchronous invoke);
- ``early``: the same, the request sent again at once;
- ``lost``: the request in flight is never sent again (a chunk's event dropped); the reconciler
  alone must finish.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core import fanout
from lambda_resolver.core.clock import FakeClock
from lambda_resolver.core.fanout import Chunk
from lambda_resolver.core.ids import idempotency_token, task_promise_id
from lambda_resolver.core.models import PromiseState, RunState, TaskState
from lambda_resolver.core.store import Store

from support.crash import Crash, CrashingLauncher, CrashingStore, DynamoBackend, Faults, SqliteBackend
from support.fakes import FakeLauncher
from support.flows import flow, job_task
from support.harness import SETTINGS, Harness

RUN_ID = "fan-run"
CHILDREN = [f"c{i}" for i in range(5)]
SETTINGS_ = SETTINGS._replace(fanout_inline=2, fanout_workers=1)  # one order of writes
RECOVER_MS = max(SETTINGS.stuck_claim_ms, SETTINGS.propagate_grace_ms, SETTINGS.check_interval_ms) * 2
FAR = 10**13
MODES = ("retried", "early", "lost")
# The outside world: publish, start, root's callback, the chunks as they come, each child's callback.
STEPS: tuple[str, ...] = ("publish", "start", "callback root", "chunks", *(f"callback {c}" for c in CHILDREN))


class Life:
    def __init__(self, backend: Path | Any, crash_after: int | None = None, mode: str = "retried") -> None:
        self.backend = SqliteBackend(backend) if isinstance(backend, Path) else backend
        self.faults = Faults(crash_after)
        self.fake, self.clock, self.mode = FakeLauncher(), FakeClock(), mode
        self.events: list[Chunk] = []  # Lambda's queue of asynchronous invokes: outlives a crash
        self.crashed_events: list[Chunk] | None = None  # what was queued when the process died
        self.h = self.boot()

    def boot(self) -> Harness:
        store = CrashingStore(self.backend.open(self.faults), self.faults)
        h = Harness(store, CrashingLauncher(self.fake, self.faults), self.clock, settings=SETTINGS_)
        h.ctx.handoff = self.events.append
        return h

    @property
    def store(self) -> Store:
        inner: Store = self.h.store.inner  # type: ignore[attr-defined]
        return inner

    def live(self) -> None:
        for step in STEPS:
            if step != "chunks":
                self.attempt(step, lambda step=step: self.do(step))
            while step == "chunks" and self.events:
                chunk = self.events.pop(0)
                self.attempt(f"chunk {chunk.offset}", lambda c=chunk: self.resume(c), chunk)
        self.recover()

    def attempt(self, step: str, action: Callable[[], object], chunk: Chunk | None = None) -> None:
        while True:
            try:
                self.faults.point(f"receive {step}")
                action()
                return
            except Crash:
                self.crashed_events = list(self.events)
                self.h = self.boot()
                if chunk is not None and self.mode != "lost":
                    self.events.insert(0, chunk)  # Lambda retries the event that failed
                if self.mode != "early":
                    self.recover()
                if self.mode == "lost":
                    self.lose(step)
                if chunk is not None or self.mode == "lost":
                    return

    def resume(self, chunk: Chunk) -> str:
        return fanout.resume(self.h.engine.advancer, chunk)

    def do(self, step: str) -> None:
        engine = self.h.engine
        if step == "publish":
            engine.publish(flow("fan", [job_task("root"), *(job_task(c, ["root"]) for c in CHILDREN)]))
        elif step == "start":
            engine.start_run("fan", run_id=RUN_ID)
        else:
            key = step.split()[1]
            rid = self.databricks_run(key)
            engine.settle(task_promise_id(RUN_ID, key, 1), PromiseState.RESOLVED, value=key)
            self.fake.end(rid, "SUCCESS", output=key, at=self.clock.now())

    def lose(self, step: str) -> None:
        if step.startswith("callback"):
            key = step.split()[1]
            rid = self.databricks_run(key)
            if self.fake.runs[rid].life != "TERMINATED":
                self.fake.end(rid, "SUCCESS", output=key, at=self.clock.now())  # notify_done gave up
        elif (step == "publish" and self.store.get_flow("fan") is None) or (
            step == "start" and self.store.get_run(RUN_ID) is None
        ):
            self.do(step)  # it never happened: the operator sends it again
        self.recover()

    def recover(self) -> None:
        """Time passes: the reconciler runs and Lambda runs the events handed to it, until quiet."""
        self.clock.advance(RECOVER_MS)
        for _ in range(50):
            counts = self.h.engine.reconcile()
            ran = bool(self.events)
            while self.events:
                self.resume(self.events.pop(0))
            if not counts and not ran:
                return
        raise AssertionError("never went quiet")

    def databricks_run(self, key: str) -> int:
        token = idempotency_token(task_promise_id(RUN_ID, key, 1))
        if token not in self.fake.by_token:
            self.recover()
        return self.fake.by_token[token]

    def problems(self) -> list[str]:
        s, found = self.store, []
        run = s.get_run(RUN_ID)
        if run is None or run.state is not RunState.SUCCESS:
            found.append(f"run is {run.state.value if run else None}")
        for key in ("root", *CHILDREN):
            t = s.get_task(RUN_ID, key)
            if t is None or t.state is not TaskState.SUCCESS or t.attempt != 1 or not t.propagated:
                found.append(f"task {key}: {t}")
        if self.fake.duplicates or len(self.fake.runs) != 1 + len(CHILDREN):
            found.append(f"Databricks runs: {len(self.fake.runs)}, duplicates {self.fake.duplicates}")
        if s.due(FAR, 100):
            found.append(f"still due: {s.due(FAR, 100)}")
        if s.slot_holders("fan"):
            found.append(f"slots held: {s.slot_holders('fan')}")
        return found


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The operations of the uncrashed life: its crash points."""
    life = Life(tmp_path_factory.mktemp("ref") / "ref.db")
    life.live()
    assert life.problems() == []
    return life.faults.ops


def test_the_uncrashed_life_hands_on_two_chunks_and_counts_root_off_in_the_last(ops: list[str]) -> None:
    assert [op for op in ops if op.startswith("receive chunk")] == ["receive chunk 2", "receive chunk 4"]
    completes = [i for i, op in enumerate(ops) if op.startswith("complete_propagation(root)")]
    edges = ("deliver_edge(root->", "deliver_and_claim(root->")
    last_edge = max(i for i, op in enumerate(ops) if op.startswith(edges))
    assert len(completes) == 1 and completes[0] > last_edge  # every edge first, then root counted off


@pytest.mark.parametrize("mode", MODES)
def test_a_crash_at_any_point_of_a_chunked_fan_out_loses_nothing(
    ops: list[str], mode: str, tmp_path: Path
) -> None:
    failures: dict[str, list[str]] = {}
    for n in range(1, len(ops) + 1):
        life = Life(tmp_path / f"{n}.db", n, mode)
        life.live()
        problems = life.problems()
        if problems:
            failures[f"{n}: {ops[n - 1]}"] = problems
        life.backend.close()
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_a_dropped_hand_off_is_finished_by_the_reconciler(tmp_path: Path) -> None:
    life = Life(tmp_path / "lh.db")
    dropped: list[Chunk] = []
    life.h.ctx.handoff = dropped.append
    for step in STEPS[:3]:
        life.do(step)
    assert [c.offset for c in dropped] == [2] and not life.store.get_task(RUN_ID, "root").propagated
    life.h.ctx.handoff = life.events.append  # the next events reach Lambda
    life.recover()  # re-delivers the first chunk, hands the next on, and so on
    for step in STEPS[4:]:
        life.do(step)
    life.recover()
    assert life.problems() == []


def test_each_chunk_delivered_twice_changes_nothing(tmp_path: Path) -> None:
    life = Life(tmp_path / "lh.db")
    for step in STEPS[:3]:
        life.do(step)
    while life.events:
        chunk = life.events.pop(0)
        for _ in range(2):  # Lambda delivers an asynchronous event at least once
            life.resume(chunk)  # each hands the next chunk on: the chain forks, and ends once
    for step in STEPS[4:]:
        life.do(step)
    life.recover()
    assert life.problems() == []


def test_a_crash_between_hand_offs_restarts_the_chain_from_the_reconciler(
    ops: list[str], tmp_path: Path
) -> None:
    """Chunk 2's invocation dies after its last claim, before it hands chunk 4 on; its event is lost."""
    n = ops.index("deliver_and_claim(root->c3)") + 1
    assert ops.index("receive chunk 2") < n < ops.index("receive chunk 4")
    life = Life(tmp_path / "lh.db", n, "lost")
    life.live()
    assert life.faults.crashed is not None and life.crashed_events == []  # nothing was handed on
    assert life.problems() == []


@pytest.mark.parametrize("mode", ["retried", "lost"])
@pytest.mark.parametrize(
    "after", ["deliver_and_claim(root->c3)", "deliver_and_claim(root->c4)", "complete_propagation(root)"]
)
def test_telling_crash_points_of_a_chunked_fan_out_on_dynamodb(
    ops: list[str], after: str, mode: str, dynamo_backend: DynamoBackend
) -> None:
    """Between two hand-offs, inside the last chunk, right after the parent is counted off (moto)."""
    life = Life(dynamo_backend, ops.index(after) + 1, mode)
    life.live()
    assert life.faults.crashed is not None and life.faults.crashed.op == after
    assert life.problems() == []
