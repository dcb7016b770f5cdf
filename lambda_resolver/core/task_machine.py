"""The task and flow-run state machine with Databricks semantics, in one place (DESIGN §3).

Task: ``WAITING → TRIGGERING → RUNNING → SUCCESS | FAILED | TIMEDOUT | CANCELED``, with
``RETRY_WAIT`` between attempts, and ``UPSTREAM_FAILED``, ``UPSTREAM_CANCELED``, ``EXCLUDED`` for
tasks that never run. Every function here is pure; the engine applies the result with a
conditional write whose condition is the ``from`` side of :data:`TRANSITIONS`.

``run_if`` (evaluated once every dependency is done; the docs' table restated in docs/semantics.md):

==================== ================================= ===================
run_if               runs when                         otherwise
==================== ================================= ===================
ALL_SUCCESS          every dependency succeeded        UPSTREAM_FAILED
AT_LEAST_ONE_SUCCESS at least one succeeded            UPSTREAM_FAILED
NONE_FAILED          none failed and at least one ran  UPSTREAM_FAILED
ALL_DONE             always                            —
AT_LEAST_ONE_FAILED  at least one failed               EXCLUDED
ALL_FAILED           every one failed                  EXCLUDED
==================== ================================= ===================

An excluded dependency counts as a success (but did not *run*); all dependencies excluded makes
the task EXCLUDED whatever its run_if. A canceled dependency makes the task UPSTREAM_CANCELED,
except under a run_if that handles failure (ALL_DONE, AT_LEAST_ONE_FAILED, ALL_FAILED), where it
counts as a failure and the task is evaluated as usual.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import NamedTuple, TypeVar

from lambda_resolver.core.manifest import ConditionOp, Dependency, RunIf, TaskSpec
from lambda_resolver.core.models import PromiseState, Run, RunState, Task, TaskState

T = TaskState

#: Every legal task transition. Stores enforce the ``from`` side in their conditional writes.
TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    T.WAITING: frozenset({T.TRIGGERING, T.EXCLUDED, T.UPSTREAM_FAILED, T.UPSTREAM_CANCELED, T.CANCELED}),
    T.TRIGGERING: frozenset({T.RUNNING, T.SUCCESS, T.FAILED, T.TIMEDOUT, T.CANCELED, T.RETRY_WAIT}),
    T.RUNNING: frozenset({T.SUCCESS, T.FAILED, T.TIMEDOUT, T.CANCELED, T.RETRY_WAIT}),
    T.RETRY_WAIT: frozenset({T.TRIGGERING, T.CANCELED}),
}


def sources_of(target: TaskState) -> frozenset[TaskState]:
    """The states a task may be in for a move to ``target`` to be legal."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


S = TypeVar("S", TaskState, RunState)


def unchanged(state: S) -> frozenset[S]:
    """The condition of a write that changes no state: the record is still in ``state``."""
    return frozenset({state})


R = RunState
_RUN_FINAL = frozenset(s for s in RunState if s.final)

#: Every legal flow-run transition: a run is admitted (PENDING → RUNNING) and ends once, from
#: either state (a stop can end a run that was never admitted).
RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    R.PENDING: frozenset({R.RUNNING}) | _RUN_FINAL,
    R.RUNNING: _RUN_FINAL,
}


def run_sources_of(target: RunState) -> frozenset[RunState]:
    """The states a run may be in for a move to ``target`` to be legal."""
    return frozenset(s for s, targets in RUN_TRANSITIONS.items() if target in targets)


#: A run that has not ended: it can still be stopped, admitted or finished.
ACTIVE_RUN_STATES = frozenset(RUN_TRANSITIONS)

#: A repair (DESIGN §9) is the one way back from an end, kept apart from the moves above so no
#: other write may take it: a finished task returns to WAITING, a final run to RUNNING.
REPAIRS: dict[TaskState, frozenset[TaskState]] = {s: frozenset({T.WAITING}) for s in TaskState if s.terminal}
RUN_REPAIRS: dict[RunState, frozenset[RunState]] = {s: frozenset({R.RUNNING}) for s in _RUN_FINAL}


def repair_sources_of(target: RunState) -> frozenset[RunState]:
    """The states a run may be in for a repair to move it to ``target``."""
    return frozenset(s for s, targets in RUN_REPAIRS.items() if target in targets)


class EdgeOutcome(str, enum.Enum):
    """What one finished dependency means to one dependent."""

    OK = "ok"
    EXCLUDED = "excluded"
    FAILED = "failed"
    CANCELED = "canceled"


_FAILED_STATES = frozenset({T.FAILED, T.TIMEDOUT, T.UPSTREAM_FAILED})
_CANCELED_STATES = frozenset({T.CANCELED, T.UPSTREAM_CANCELED})
_HANDLES_FAILURE = frozenset({RunIf.ALL_DONE, RunIf.AT_LEAST_ONE_FAILED, RunIf.ALL_FAILED})


def edge_outcome(parent: Task, dep: Dependency) -> EdgeOutcome:
    """The outcome a finished ``parent`` leaves on the edge ``dep`` of a dependent."""
    state = parent.state
    if not state.terminal:
        raise ValueError(f"task {parent.key} is {state.value}, not finished")
    if state is T.SUCCESS:
        if dep.outcome is not None and dep.outcome != parent.outcome:
            return EdgeOutcome.EXCLUDED  # the other branch of a condition task
        return EdgeOutcome.OK
    if state is T.EXCLUDED:
        return EdgeOutcome.EXCLUDED
    if state in _FAILED_STATES:
        return EdgeOutcome.FAILED
    return EdgeOutcome.CANCELED


def evaluate(run_if: RunIf, outcomes: Iterable[EdgeOutcome]) -> TaskState:
    """Whether a task whose dependencies are all done runs (``TRIGGERING``) or how it is skipped."""
    outs = list(outcomes)
    if not outs:
        return T.TRIGGERING  # a root task
    if all(o is EdgeOutcome.EXCLUDED for o in outs):
        return T.EXCLUDED
    canceled = sum(o is EdgeOutcome.CANCELED for o in outs)
    if canceled and run_if not in _HANDLES_FAILURE:
        return T.UPSTREAM_CANCELED
    failed = sum(o in (EdgeOutcome.FAILED, EdgeOutcome.CANCELED) for o in outs)
    ran_ok = sum(o is EdgeOutcome.OK for o in outs)
    succeeded = ran_ok + sum(o is EdgeOutcome.EXCLUDED for o in outs)
    total = len(outs)
    runs = {
        RunIf.ALL_SUCCESS: succeeded == total,
        RunIf.AT_LEAST_ONE_SUCCESS: succeeded > 0,
        RunIf.NONE_FAILED: failed == 0 and ran_ok > 0,
        RunIf.ALL_DONE: True,
        RunIf.AT_LEAST_ONE_FAILED: failed > 0,
        RunIf.ALL_FAILED: failed == total,
    }[run_if]
    if runs:
        return T.TRIGGERING
    return T.EXCLUDED if run_if in (RunIf.AT_LEAST_ONE_FAILED, RunIf.ALL_FAILED) else T.UPSTREAM_FAILED


class AttemptResult(NamedTuple):
    """Where a task goes once its attempt's promise is settled."""

    state: TaskState
    retry_at: int | None = None  # set with RETRY_WAIT


def after_attempt(
    spec: TaskSpec, attempt: int, promise_state: PromiseState, now: int, *, retryable: bool = True
) -> AttemptResult:
    """Map a settled attempt to the task's next state, applying the retry policy.

    Databricks retries a failed task ``max_retries`` times (-1: without limit), waiting
    ``min_retry_interval_millis``; a timed-out task only with ``retry_on_timeout``. Canceled
    tasks are never retried, and neither is a failure marked not ``retryable`` (an attempt that
    could not start because Databricks refused its run-now: every retry would be refused too).
    """
    if promise_state is PromiseState.RESOLVED:
        return AttemptResult(T.SUCCESS)
    if promise_state is PromiseState.REJECTED_CANCELED:
        return AttemptResult(T.CANCELED)
    final = T.TIMEDOUT if promise_state is PromiseState.REJECTED_TIMEDOUT else T.FAILED
    retryable = retryable and (final is T.FAILED or spec.retry_on_timeout)
    retries_left = spec.max_retries < 0 or attempt <= spec.max_retries
    if retryable and retries_left:
        return AttemptResult(T.RETRY_WAIT, retry_at=now + max(0, spec.min_retry_interval_ms))
    return AttemptResult(final)


class LeafOutcome(str, enum.Enum):
    OK = "ok"  # SUCCESS or EXCLUDED
    FAILED = "failed"  # FAILED, TIMEDOUT, UPSTREAM_FAILED
    CANCELED = "canceled"  # CANCELED, UPSTREAM_CANCELED


def leaf_outcome(state: TaskState) -> LeafOutcome:
    if state in (T.SUCCESS, T.EXCLUDED):
        return LeafOutcome.OK
    if state in _FAILED_STATES:
        return LeafOutcome.FAILED
    if state in _CANCELED_STATES:
        return LeafOutcome.CANCELED
    raise ValueError(f"{state.value} is not a finished state")


def is_failure(state: TaskState) -> bool:
    """A task that itself failed (it ran, or its upstream failed) — for SUCCESS_WITH_FAILURES."""
    return state in _FAILED_STATES


def run_result(run: Run) -> RunState:
    """The flow run's result once every leaf is done, decided by its leaves as Databricks does.

    A requested stop wins (CANCELED, TIMEDOUT); then a failed leaf (FAILED); then a canceled leaf
    (CANCELED); then SUCCESS_WITH_FAILURES if any task failed; else SUCCESS.
    """
    if run.stop_reason == RunState.TIMEDOUT.value:
        return RunState.TIMEDOUT
    if run.stop_reason == RunState.CANCELED.value:
        return RunState.CANCELED
    if run.failed_leaves:
        return RunState.FAILED
    if run.canceled_leaves:
        return RunState.CANCELED
    if run.any_failed:
        return RunState.SUCCESS_WITH_FAILURES
    return RunState.SUCCESS


def evaluate_condition(op: ConditionOp, left: str, right: str) -> bool:
    """A condition_task as Databricks evaluates it: EQUAL_TO/NOT_EQUAL compare strings, the
    other four compare numbers (``12.0 == 12`` is false, ``12.0 >= 12`` is true)."""
    if op is ConditionOp.EQUAL_TO:
        return left == right
    if op is ConditionOp.NOT_EQUAL:
        return left != right
    a, b = _number(left), _number(right)
    if op is ConditionOp.GREATER_THAN:
        return a > b
    if op is ConditionOp.GREATER_THAN_OR_EQUAL:
        return a >= b
    if op is ConditionOp.LESS_THAN:
        return a < b
    return a <= b


def _number(s: str) -> float:
    try:
        v = float(s.strip())
    except ValueError:
        raise ValueError(f"condition operand {s!r} is not a number") from None
    if math.isnan(v):
        raise ValueError(f"condition operand {s!r} is not a number")
    return v
