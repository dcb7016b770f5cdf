"""Two (or eight) repairs of one run at once: exactly one starts (SQLite unlocked, moto locked)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from lambda_resolver.core.errors import RepairConflict
from lambda_resolver.core.models import Run, RunState
from lambda_resolver.core.store import Store

from support.flows import flow, job_task
from support.harness import Harness

AT_ONCE = 8


def _repair_all_at_once(h: Harness, run_id: str, **kw: object) -> list[Run | RepairConflict]:
    barrier = threading.Barrier(AT_ONCE)

    def go(_: int) -> Run | RepairConflict:
        barrier.wait()
        try:
            return h.engine.repair_run(run_id, **kw)  # type: ignore[arg-type]
        except RepairConflict as exc:
            return exc

    with ThreadPoolExecutor(AT_ONCE) as pool:
        return list(pool.map(go, range(AT_ONCE)))


def test_concurrent_repairs_start_exactly_one_repair(store: Store) -> None:
    h = Harness(store)
    h.publish(flow("chain", [job_task("a"), job_task("b", ["a"]), job_task("c", ["b"])]))
    h.start("chain", run_id="r")
    h.succeed("r", "a")
    h.fail("r", "b")
    for round_, seen in ((1, None), (2, 1)):
        results = _repair_all_at_once(h, "r", latest_repair_id=seen)
        won = [r for r in results if isinstance(r, Run)]
        assert len(won) == 1, results
        assert all(isinstance(r, RepairConflict) and r.status == 409 for r in results if r not in won)
        run = h.run("r")
        assert (run.repair_count, run.latest_repair_id, run.state) == (round_, round_, RunState.RUNNING)
        b = h.task("r", "b")
        assert (b.attempt, b.promise_id) == (1 + round_, f"r.b.{1 + round_}")
        h.fail("r", "b")
    assert h.launcher.duplicates == {}
    assert Counter(r.request.job_key for r in h.launcher.runs.values()) == {"job_a": 1, "job_b": 3}
    repaired = [e for e in h.events if e[0] == "run_repaired"]
    assert [e[1]["repair_id"] for e in repaired] == [1, 2]
