"""Completion notifications, delivered at least once.

A finished flow run or a settled standalone promise with a ``notify_url`` stays in the due index
until its document was accepted. The first attempt is made at once; the reconciler retries with
doubling back-off (``notify_backoff_ms``, capped at an hour) up to ``notify_max_attempts``.
Receivers deduplicate by the webhook id, which is stable across attempts.
"""

from __future__ import annotations

import contextlib
from typing import Any

from lambda_resolver.core.context import Context, log
from lambda_resolver.core.errors import StoreConflict
from lambda_resolver.core.models import Promise, Run

_HOUR_MS = 3_600_000


def backoff(ctx: Context, attempts: int) -> int:
    """Delay before attempt ``attempts + 1``."""
    return int(min(_HOUR_MS, ctx.settings.notify_backoff_ms * 2 ** max(0, attempts - 1)))


def deliver_run(ctx: Context, run: Run) -> None:
    """Try once to deliver a finished run's document; record the outcome on the run."""
    if not run.notify_url or run.notified_at is not None or not run.state.final:
        return
    ok = _attempt(ctx, "run", run.run_id, run.notify_url)
    changes = _outcome(ctx, ok, run.notify_attempts + 1, f"run {run.run_id}")
    # A final run cannot change state; a lost write would only mean one more attempt.
    with contextlib.suppress(StoreConflict):
        ctx.writes.set_run_fields(run.run_id, changes, while_in=run.state)


def deliver_promise(ctx: Context, p: Promise) -> None:
    """Try once to deliver a settled standalone promise; record the outcome on the promise."""
    if not p.notify_url or p.notified_at is not None or not p.state.settled:
        return
    ok = _attempt(ctx, "promise", p.id, p.notify_url)
    changes = _outcome(ctx, ok, p.notify_attempts + 1, f"promise {p.id}")
    with contextlib.suppress(StoreConflict):
        ctx.writes.set_promise_fields(p.id, changes, while_in=p.state)


def _attempt(ctx: Context, kind: str, record_id: str, url: str) -> bool:
    if ctx.notifier is None:
        log.warning("%s %s has a notify_url but this resolver has no notifier", kind, record_id)
        return False
    try:
        return ctx.notifier.notify(kind, record_id, url)
    except Exception:  # noqa: BLE001 - a receiver's failure must never fail the settle that ended the run
        log.exception("notification of %s %s failed", kind, record_id)
        return False


def _outcome(ctx: Context, ok: bool, attempts: int, what: str) -> dict[str, Any]:
    now = ctx.now()
    if ok:
        ctx.event("notified", {"what": what, "attempts": attempts})
        return {"notified_at": now, "notify_attempts": attempts, "due_at": None}
    if attempts >= ctx.settings.notify_max_attempts:
        log.error("giving up notifying %s after %d attempts", what, attempts)
        ctx.event("notify_gave_up", {"what": what, "attempts": attempts})
        return {"notify_attempts": attempts, "due_at": None}
    return {"notify_attempts": attempts, "due_at": now + backoff(ctx, attempts)}
