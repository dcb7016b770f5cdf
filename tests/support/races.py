"""Helpers for race tests: signals released together, a launcher that counts cancels, and a
worker for races between OS processes.

:func:`at_once` runs callables on threads released by one barrier and keeps each one's answer
or the :class:`LakehookError` it raised (what the HTTP edge maps to 4xx); any other exception
fails the test. :class:`RaceLauncher` is the fake workspace, shared by every resolver of a test,
that also counts ``cancel`` calls per Databricks run. :func:`settle_worker` is the body of one
resolver *process* over a SQLite file (``multiprocessing`` spawn imports it from here).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lambda_resolver.core.errors import LakehookError, LaunchError
from lambda_resolver.core.launcher import Launched, TriggerRequest

from support.fakes import FakeLauncher, FakeRun

V = TypeVar("V")


@dataclass(frozen=True)
class Answer(Generic[V]):
    """What one signal got back: a value, or the error the edge would answer with."""

    value: V | None = None
    error: LakehookError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def at_once(*signals: Callable[[], V], jitter_s: float = 0.0, seed: int = 0) -> list[Answer[V]]:
    """Run every signal on its own thread, all released together by one barrier.

    ``jitter_s``: after the barrier, each signal first sleeps a random time up to this (drawn
    from ``seed``). Behind moto's one lock requests take turns of ~10 ms, so signals released
    at the same instant tend to finish in the same order; a jitter of about one signal's length
    makes each order come up."""
    barrier = threading.Barrier(len(signals))
    rng = random.Random(seed)  # noqa: S311 - test timing, not secrets
    delays = [rng.uniform(0, jitter_s) for _ in signals]

    def go(i: int) -> Answer[V]:
        barrier.wait()
        if delays[i]:
            time.sleep(delays[i])
        try:
            return Answer(value=signals[i]())
        except LakehookError as exc:
            return Answer(error=exc)

    with ThreadPoolExecutor(len(signals)) as pool:
        return list(pool.map(go, range(len(signals))))


@dataclass
class RaceLauncher(FakeLauncher):
    """The fake workspace, counting ``cancel`` calls per run (``cancel_calls``) and the calls
    that actually stopped a live run (``stopped``: at most 1 per run, as in Databricks).

    ``start_then_fail`` holds idempotency tokens whose next run-now starts the run and then
    raises a transient LaunchError: the answer was lost (a timeout), the run exists, the
    resolver never recorded it — a stuck claim with a live notebook."""

    cancel_calls: Counter[int] = field(default_factory=Counter)
    stopped: Counter[int] = field(default_factory=Counter)
    start_then_fail: set[str] = field(default_factory=set)

    def trigger(self, request: TriggerRequest) -> Launched:
        launched = super().trigger(request)
        with self._lock:
            if request.idempotency_token in self.start_then_fail:
                self.start_then_fail.discard(request.idempotency_token)
                raise LaunchError("run-now timed out (the run started)", permanent=False)
        return launched

    def cancel(self, databricks_run_id: int) -> None:
        with self._lock:
            self.cancel_calls[databricks_run_id] += 1
            run = self.runs.get(databricks_run_id)
            if run is not None and run.life != "TERMINATED":
                self.stopped[databricks_run_id] += 1
                run.canceled = True
                run.life, run.result, run.message = "TERMINATED", "CANCELED", "canceled by lakehook"

    def for_token(self, token: str) -> FakeRun | None:
        rid = self.by_token.get(token)
        return None if rid is None else self.runs[rid]


# -- races between processes ----------------------------------------------------------------------
def settle_worker(
    db_path: str, reps: Sequence[Sequence[str]], barrier: Any, results: Any, index: int
) -> None:
    """One resolver process on the SQLite file ``db_path``: for each repetition, wait at the
    barrier with the other processes, then resolve that repetition's promises (value: the
    promise id). Reports the run-now calls its own launcher made per idempotency token and its
    ``task_claimed`` events — what the parent needs to count runs and claims across processes."""
    from lambda_resolver.core.models import PromiseState
    from lambda_resolver.stores.sqlite import SqliteStore

    from support.harness import Harness

    store = SqliteStore(db_path)
    h = Harness(store)
    try:
        for promise_ids in reps:
            barrier.wait(timeout=60)
            for pid in promise_ids:
                h.engine.settle(pid, PromiseState.RESOLVED, value=pid)
        claims = [f for name, f in h.events if name == "task_claimed"]
        results.put((index, dict(h.launcher.calls), claims, None))
    except BaseException as exc:  # report, so the parent fails with the reason, not a timeout
        results.put((index, {}, [], repr(exc)))
        barrier.abort()
    finally:
        store.close()
