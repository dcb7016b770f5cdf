"""Children one settle makes ready start side by side (at most ``fanout_workers`` at a time),
each exactly once; with one worker they start one after another."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.models import PromiseState
from lambda_resolver.stores.sqlite import SqliteStore

from support.fakes import FakeLauncher
from support.flows import flow, job_task
from support.harness import SETTINGS, Harness


class GatedLauncher(FakeLauncher):
    """The first ``gate`` run-nows wait (up to 5 s) until ``gate`` are in flight, then answer: a
    sequential caller never has more than one in flight; side-by-side callers reach the gate."""

    def __init__(self, gate: int) -> None:
        super().__init__()
        self.gate, self.arrived, self.in_flight, self.most_at_once = gate, 0, 0, 0
        self.opened = False
        self.cond = threading.Condition()

    def trigger(self, request: Any) -> Any:
        with self.cond:
            self.arrived += 1
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
            if self.in_flight >= self.gate:
                self.opened = True
                self.cond.notify_all()
            if self.arrived <= self.gate:
                self.cond.wait_for(lambda: self.opened, timeout=5)
        try:
            return super().trigger(request)
        finally:
            with self.cond:
                self.in_flight -= 1


@pytest.mark.parametrize(("workers", "expected_at_once"), [(4, 4), (1, 1)])
def test_a_fan_out_starts_its_children_side_by_side(
    tmp_path: Path, workers: int, expected_at_once: int
) -> None:
    launcher = GatedLauncher(gate=1)  # the root starts alone
    settings = SETTINGS._replace(fanout_workers=workers)
    h = Harness(SqliteStore(tmp_path / "lh.db"), launcher=launcher, settings=settings)
    h.publish(flow("fan", [job_task("root"), *(job_task(f"c{i}", ["root"]) for i in range(8))]))
    run = h.start("fan")
    launcher.most_at_once, launcher.arrived, launcher.opened = 0, 0, False
    launcher.gate = expected_at_once
    h.succeed(run, "root")
    states = h.states(run)
    assert all(states[f"c{i}"] == "RUNNING" for i in range(8)), states
    assert launcher.most_at_once == expected_at_once
    assert launcher.duplicates == {} and sum(launcher.started.values()) == 9  # root + 8, once each
    assert h.task(run, "root").propagated  # counted off once its children had started
    t = h.task(run, "c3")
    assert t.promise_id is not None
    h.engine.settle(t.promise_id, PromiseState.RESOLVED, value=1)
    assert h.states(run)["c3"] == "SUCCESS"


class OrderLauncher(FakeLauncher):
    """Notes each run-now, in order, in a log shared with the store below."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.log = log

    def trigger(self, request: Any) -> Any:
        self.log.append(("run-now", request.promise_id.rsplit(".", 2)[1]))
        return super().trigger(request)


class OrderStore(SqliteStore):
    """Notes each task's move to RUNNING (the write after its run-now answered), in order."""

    log: list[tuple[str, str]]

    def update_attempt(self, run_id: str, key: str, *args: Any, **kwargs: Any) -> Any:
        after = super().update_attempt(run_id, key, *args, **kwargs)
        if after[0].state.value == "RUNNING":
            self.log.append(("running", key))
        return after


@pytest.mark.parametrize("workers", [4, 1])
def test_side_by_side_every_child_has_its_run_now_before_any_is_marked_running(
    tmp_path: Path, workers: int
) -> None:
    """The marks wait for the last run-now, so it is not queued behind the others' writes; one
    after another each child is started and marked in turn. Either way each ends RUNNING once."""
    log: list[tuple[str, str]] = []
    store = OrderStore(tmp_path / "lh.db")
    store.log = log
    settings = SETTINGS._replace(fanout_workers=workers)
    h = Harness(store, launcher=OrderLauncher(log), settings=settings)
    h.publish(flow("fan", [job_task("root"), *(job_task(f"c{i}", ["root"]) for i in range(8))]))
    run = h.start("fan")
    log.clear()
    h.succeed(run, "root")
    children = [(what, key) for what, key in log if key.startswith("c")]
    run_nows = [i for i, (what, _) in enumerate(children) if what == "run-now"]
    marks = [i for i, (what, _) in enumerate(children) if what == "running"]
    assert len(run_nows) == len(marks) == 8
    if workers > 1:
        assert max(run_nows) < min(marks), children
    else:
        assert [what for what, _ in children] == ["run-now", "running"] * 8, children
    assert all(h.states(run)[f"c{i}"] == "RUNNING" for i in range(8))
    assert h.launcher.duplicates == {}
