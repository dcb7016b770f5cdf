"""The iterations of a ``for_each_task``: their records, their promise ids, the rule that turns
their results into the for_each task's (the store methods they need: ``core.store.IterationStore``).

One :class:`Loop` record per attempt of a for_each task holds its inputs and counters: how many
iterations were claimed (``next``), how many are active, how many ended in each state. An
iteration is claimed by one conditional write on ``next`` (and ``active < concurrency``) that, in
the same transaction, creates the iteration's record and its first promise; it is counted off by
one conditional write on its record (still active, still on that promise) that, in the same
transaction, moves the counters. So a settle costs O(1) store operations, whatever the number of
iterations, and each iteration is claimed and counted exactly once.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from lambda_resolver.core.ids import task_promise_id
from lambda_resolver.core.models import JSON, PromiseState

#: Databricks' limits: at most 100 iterations at once; the inputs of one for_each task.
MAX_CONCURRENCY = 100
MAX_INPUTS = 5000
MAX_INPUTS_BYTES = 256 * 1024  # as a value: the loop record keeps them (a DynamoDB item holds 400 KB)
DEFAULT_CONCURRENCY = 1


class IterationState(str, enum.Enum):
    PENDING = "PENDING"  # not claimed yet (no record is stored for it)
    RUNNING = "RUNNING"  # claimed: its current promise is pending (or settled, not counted yet)
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMEDOUT = "TIMEDOUT"
    CANCELED = "CANCELED"


#: What a settled iteration promise makes of its iteration (when no retry follows).
ITERATION_RESULT = {
    PromiseState.RESOLVED: IterationState.SUCCESS,
    PromiseState.REJECTED: IterationState.FAILED,
    PromiseState.REJECTED_TIMEDOUT: IterationState.TIMEDOUT,
    PromiseState.REJECTED_CANCELED: IterationState.CANCELED,
}
ENDED = (IterationState.SUCCESS, IterationState.FAILED, IterationState.TIMEDOUT, IterationState.CANCELED)


class Loop(NamedTuple):
    """One attempt of a for_each task: its inputs and its counters (never a list of iterations)."""

    run_id: str
    task_key: str
    attempt: int
    inputs: tuple[JSON, ...]
    concurrency: int
    next: int = 0  # iterations claimed so far: the next one to claim
    active: int = 0  # claimed and not ended
    ended: Mapping[str, int] = MappingProxyType({})  # IterationState value → count (read-only)
    stopped: bool = False  # canceled or timed out: claim nothing more
    created_at: int = 0

    @property
    def total(self) -> int:
        return len(self.inputs)

    @property
    def done(self) -> int:
        return sum(self.ended.values())

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def counts(self) -> dict[str, int]:
        """The run document's ``iterations``: total, and how many are in each state (non-zero)."""
        pairs = (
            (IterationState.PENDING.value, self.total - self.next),
            (IterationState.RUNNING.value, self.active),
            *((s.value, self.ended.get(s.value, 0)) for s in ENDED),
        )
        return {"total": self.total, **{state: count for state, count in pairs if count}}


@dataclasses.dataclass(frozen=True)
class Iteration:
    """One claimed iteration. ``tries`` counts its promises (1 + its retries so far)."""

    index: int
    input: JSON
    state: IterationState
    tries: int
    promise_id: str
    value: JSON = None
    error: dict[str, Any] | None = None
    databricks_run_id: int | None = None
    run_page_url: str | None = None
    triggered_at: int | None = None
    settled_at: int | None = None

    def to_doc(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["state"] = self.state.value
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Iteration:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in doc.items() if k in names}
        kwargs["state"] = IterationState(kwargs["state"])
        return cls(**kwargs)


def iteration_promise_id(run_id: str, task_key: str, attempt: int, index: int, tries: int = 1) -> str:
    """The promise id of one try of one iteration: ``<run>.<task>.<attempt>.<n>`` for its first,
    ``<run>.<task>.<attempt>.<n>.<try>`` for a retry (try 2, 3, ...). Unique per run; within
    ``[A-Za-z0-9._:-]{1,128}``: a long task key is replaced by its digest, as in the attempt's id."""
    suffix = f".{index}" if tries <= 1 else f".{index}.{tries}"
    pid = task_promise_id(run_id, task_key, attempt) + suffix
    if len(pid) <= 128:
        return pid
    digest = hashlib.sha256(task_key.encode()).hexdigest()[:16]
    return f"{run_id}.k{digest}.{attempt}{suffix}"


def loop_result(loop: Loop) -> tuple[PromiseState, dict[str, Any] | None]:
    """Databricks' rule for a for_each task that ran every iteration: it succeeds when every
    iteration succeeded (after its retries), and fails otherwise."""
    bad = {s: loop.ended.get(s.value, 0) for s in ENDED if s is not IterationState.SUCCESS}
    if not any(bad.values()):
        return PromiseState.RESOLVED, None
    detail = ", ".join(f"{s.value}: {n}" for s, n in bad.items() if n)
    message = f"{sum(bad.values())} of {loop.total} iterations did not succeed ({detail})"
    # The iterations spent their own retries; running all of them again would repeat the successes.
    return PromiseState.REJECTED, {"type": "ForEachFailed", "message": message, "retryable": False}
