"""Persistent records: promises, flow runs and the tasks of a run.

Records are immutable values. Stores persist them and change them only through conditional
writes; the engine decides every change through the state machines in ``promise_machine`` and
``task_machine``. They are named tuples: immutable values, ~10x cheaper to define than frozen
dataclasses (a fresh Lambda defines them before its first callback); ``replace`` returns a copy
with some fields changed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

JSON = Any  # a JSON value: None, bool, int, float, str, list, dict

R = TypeVar("R")


class PromiseState(str, enum.Enum):
    PENDING = "PENDING"
    RESOLVED = "RESOLVED"
    REJECTED = "REJECTED"
    REJECTED_CANCELED = "REJECTED_CANCELED"
    REJECTED_TIMEDOUT = "REJECTED_TIMEDOUT"

    @property
    def settled(self) -> bool:
        return self is not PromiseState.PENDING


class TaskState(str, enum.Enum):
    WAITING = "WAITING"
    TRIGGERING = "TRIGGERING"  # claimed: exactly one caller owns starting this attempt
    RUNNING = "RUNNING"
    RETRY_WAIT = "RETRY_WAIT"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMEDOUT = "TIMEDOUT"
    CANCELED = "CANCELED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    UPSTREAM_CANCELED = "UPSTREAM_CANCELED"
    EXCLUDED = "EXCLUDED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_TASK_STATES


TERMINAL_TASK_STATES = frozenset(
    {
        TaskState.SUCCESS,
        TaskState.FAILED,
        TaskState.TIMEDOUT,
        TaskState.CANCELED,
        TaskState.UPSTREAM_FAILED,
        TaskState.UPSTREAM_CANCELED,
        TaskState.EXCLUDED,
    }
)
ACTIVE_TASK_STATES = frozenset({TaskState.TRIGGERING, TaskState.RUNNING})


class RunState(str, enum.Enum):
    PENDING = "PENDING"  # created, or queued behind max_concurrent_runs
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    SUCCESS_WITH_FAILURES = "SUCCESS_WITH_FAILURES"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TIMEDOUT = "TIMEDOUT"

    @property
    def final(self) -> bool:
        return self not in (RunState.PENDING, RunState.RUNNING)


class Promise(NamedTuple):
    """A durable promise. Task attempts carry ``run_id``/``task_key``/``attempt``; a standalone
    promise may carry ``job`` (the single-job pattern)."""

    id: str
    state: PromiseState
    created_at: int  # epoch milliseconds
    timeout_at: int
    value: JSON = None
    error: dict[str, Any] | None = None
    settled_at: int | None = None
    idempotency_key: str | None = None  # of the settle that won
    run_id: str | None = None
    task_key: str | None = None
    attempt: int = 0
    job: dict[str, Any] | None = None
    databricks_run_id: int | None = None
    run_page_url: str | None = None
    notify_url: str | None = None
    notify_attempts: int = 0
    notified_at: int | None = None
    due_at: int | None = None  # when the reconciler should look at it next (standalone only)
    # Drawn at creation, never changed: callback tokens are bound to it (ids.TokenSigner). None
    # on promises created before nonces existed, whose tokens cover the id alone.
    nonce: str | None = None
    # The index of the for_each iteration this promise is an attempt of (None: not an iteration).
    iteration: int | None = None

    def replace(self, **changes: Any) -> Promise:
        return self._replace(**changes)


class Task(NamedTuple):
    """One task of one flow run. ``waiting`` counts dependencies not yet delivered; ``deps`` holds
    the edge outcome each delivered parent left (see task_machine.EdgeOutcome)."""

    run_id: str
    key: str
    state: TaskState
    waiting: int
    attempt: int = 0
    deps: Mapping[str, str] = MappingProxyType({})
    promise_id: str | None = None
    value: JSON = None
    error: dict[str, Any] | None = None
    outcome: str | None = None  # a condition task's "true"/"false"
    databricks_run_id: int | None = None
    run_page_url: str | None = None
    triggered_at: int | None = None
    settled_at: int | None = None
    due_at: int | None = None
    propagated: bool = False
    retry_base: int = 0  # the attempt a repair reset it from: its retries count from there

    def replace(self, **changes: Any) -> Task:
        return self._replace(**changes)


class TriggerType(str, enum.Enum):
    """What started a run (the run document's ``trigger.type``)."""

    MANUAL = "manual"  # POST /v1/runs, ``lakehook run``
    SCHEDULE = "schedule"  # the flow's ``schedule`` (Quartz cron)
    PERIODIC = "periodic"  # the flow's ``trigger.periodic``


class RunTrigger(NamedTuple):
    """Why a run exists: manual, or a schedule slot (``slot``, epoch ms) with how many slots
    before it were skipped while nothing fired them (no backfill)."""

    type: TriggerType = TriggerType.MANUAL
    slot: int | None = None
    skipped: int = 0

    def to_doc(self) -> dict[str, Any]:
        return {"type": self.type.value, "slot": self.slot, "skipped": self.skipped}

    def to_document(self) -> dict[str, Any]:
        """The run document's ``trigger``: ``{"type", "slot": ISO | null, "skipped"}``."""
        from lambda_resolver.core.clock import iso

        return {"type": self.type.value, "slot": iso(self.slot), "skipped": self.skipped}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> RunTrigger:
        """The trigger in a stored document; a run stored before triggers existed was manual."""
        if not doc:
            return cls()
        return cls(TriggerType(doc.get("type", "manual")), doc.get("slot"), int(doc.get("skipped", 0)))


MANUAL_TRIGGER = RunTrigger()  # a run started by hand: the default trigger


class Run(NamedTuple):
    """A flow run. Leaf counters decide the result without ever scanning the tasks."""

    run_id: str
    flow: str
    flow_version: int
    state: RunState
    created_at: int
    params: Mapping[str, str] = MappingProxyType({})
    ended_at: int | None = None
    notify_url: str | None = None
    open_leaves: int = 0
    failed_leaves: int = 0
    canceled_leaves: int = 0
    any_failed: bool = False
    stop_reason: str | None = None  # "CANCELED" or "TIMEDOUT" once a stop was requested
    deadline_at: int | None = None
    notify_attempts: int = 0
    notified_at: int | None = None
    due_at: int | None = None
    trigger: RunTrigger = MANUAL_TRIGGER
    repair_count: int = 0
    latest_repair_id: int | None = None
    # The latest repair's plan: {"id", "tasks": {key: [state, attempt]}, "applied"} (core/repair.py)
    repair: dict[str, Any] | None = None

    def replace(self, **changes: Any) -> Run:
        return self._replace(**changes)


class DueItem(NamedTuple):
    """A record the reconciler must look at: ``kind`` is "promise", "task", "run" or "schedule"."""

    kind: str
    due_at: int
    id: str  # promise id, run id, or flow name (a schedule)
    task_key: str | None = None


Record = Promise | Task | Run


def to_doc(record: Record) -> dict[str, Any]:
    """A record as a JSON-ready dict (enums as their values)."""
    return {name: _json_ready(v) for name, v in zip(record._fields, record, strict=True)}


def _json_ready(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, RunTrigger):
        return v.to_doc()
    if isinstance(v, Mapping):
        return dict(v)
    return v


def from_doc(cls: type[R], doc: Mapping[str, Any]) -> R:
    """The inverse of :func:`to_doc`; unknown keys are ignored, missing ones take defaults."""
    kwargs: dict[str, Any] = {}
    for name in cls._fields:  # type: ignore[attr-defined]
        if name not in doc:
            continue
        v = doc[name]
        if name == "state" and v is not None:
            v = _STATE_TYPES[cls](v)
        elif name == "trigger" and cls is Run:
            v = RunTrigger.from_doc(v)
        kwargs[name] = v
    return cls(**kwargs)


_STATE_TYPES: dict[type, type[enum.Enum]] = {
    Promise: PromiseState,
    Task: TaskState,
    Run: RunState,
}
