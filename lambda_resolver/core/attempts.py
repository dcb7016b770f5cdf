"""What a task's attempt writes: its claim, its promise, and the result it finishes with.

Pure: each function computes the changes of one write from the records in hand, so the same
changes serve a write of the task alone and a write of the task with its attempt's promise
(``Transitions.claim``, ``settle_and_finish``) — the advancer and a callback's settle decide alike.
"""

from __future__ import annotations

from typing import Any

from lambda_resolver.core import task_machine as tm
from lambda_resolver.core.context import Settings
from lambda_resolver.core.ids import new_nonce, task_promise_id
from lambda_resolver.core.kinds import kind_of
from lambda_resolver.core.manifest import TaskSpec
from lambda_resolver.core.models import Promise, PromiseState, Task, TaskState


def claim_changes(t: Task, attempt: int, now: int, settings: Settings) -> dict[str, Any]:
    """The task's side of a claim of ``attempt``: its promise id, when, and the claim's deadline."""
    return {
        "attempt": attempt,
        "promise_id": task_promise_id(t.run_id, t.key, attempt),
        "triggered_at": now,
        "due_at": now + settings.stuck_claim_ms,
        "databricks_run_id": None,
        "run_page_url": None,
    }


def attempt_promise(t: Task, spec: TaskSpec, attempt: int, now: int, settings: Settings) -> Promise:
    """The pending promise of a new attempt of ``t``: a finite timeout (the task's, or the
    default) and a fresh nonce its callback token is bound to."""
    timeout_s = spec.timeout_seconds or settings.default_task_timeout_s
    return Promise(
        id=task_promise_id(t.run_id, t.key, attempt),
        state=PromiseState.PENDING,
        created_at=now,
        timeout_at=now + timeout_s * 1000,
        run_id=t.run_id,
        task_key=t.key,
        attempt=attempt,
        nonce=new_nonce(),
    )


def finish_plan(
    spec: TaskSpec, t: Task, p: Promise, now: int, settings: Settings
) -> tuple[TaskState, dict[str, Any]]:
    """The state a task whose attempt's promise settled as ``p`` moves to, and the changes of
    that move: its result (or RETRY_WAIT with the retry's time), value, error and run."""
    # A repaired task has its retries again: they count from the attempt it was reset from.
    result = tm.after_attempt(spec, t.attempt - t.retry_base, p.state, now, retryable=retryable(p))
    changes: dict[str, Any] = {
        "value": p.value,
        "error": p.error,
        "settled_at": p.settled_at or now,
        "databricks_run_id": p.databricks_run_id or t.databricks_run_id,
        "run_page_url": p.run_page_url or t.run_page_url,
    }
    outcome = kind_of(spec).outcome(p.value)
    if outcome is not None:
        changes["outcome"] = outcome
    if result.state is TaskState.RETRY_WAIT:
        changes["due_at"] = result.retry_at
    else:  # propagation follows at once; re-driven only if it has not by then
        grace = now + settings.propagate_grace_ms
        changes["due_at"] = keep_due(t.due_at, grace, grace + settings.check_interval_ms)
        changes["propagated"] = False
    return result.state, changes


def retryable(p: Promise) -> bool:
    """Whether the task's retry policy applies to ``p``'s failure (see ``advance.attempt_error``).
    Read from the stored promise, so a re-drive after a crash decides as the first driver did."""
    return not (isinstance(p.error, dict) and p.error.get("retryable") is False)


def keep_due(current: int | None, earliest: int, latest: int) -> int:
    """The ``due_at`` for a record whose next look may fall anywhere in [earliest, latest]:
    the one it has if that fits, else ``latest``. Every change of ``due_at`` moves the record
    in the store's due index (on DynamoDB an index delete and put), so keeping it is cheaper."""
    return current if current is not None and earliest <= current <= latest else latest
