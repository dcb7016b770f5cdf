"""Completion notifications, delivered at least once and never in the way of other work.

A finished flow run or a settled standalone promise with a ``notify_url`` stays in the due index
until its document was accepted. Each attempt is *claimed* before anything is sent: its number
and the time the next one is due are written first, so an attempt that crashes or hangs still
counts and is retried (doubling from ``notify_backoff_ms``, capped at an hour, up to
``notify_max_attempts``). The send itself never happens on a callback's request path:
``ctx.dispatch`` hands a claimed attempt to a worker (on AWS an asynchronous invocation of the
function itself, locally a thread), and without one the record stays due for the reconciler, which
sends after the rest of its pass. Receivers deduplicate by the webhook id, stable across attempts.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lambda_resolver.core.context import Context, log
from lambda_resolver.core.errors import BadRequest, StoreConflict
from lambda_resolver.core.models import Promise, Run

_HOUR_MS = 3_600_000
#: Sends a reconciler pass makes itself when no worker is wired; each is bounded by the
#: notifier's deadline, and the rest stay due for the next pass.
INLINE_PER_PASS = 4

Record = Run | Promise
Claimed = tuple[str, str, int]  # kind ("run" or "promise"), record id, attempt number


def backoff(ctx: Context, attempts: int) -> int:
    """Delay before attempt ``attempts + 1``."""
    return int(min(_HOUR_MS, ctx.settings.notify_backoff_ms * 2 ** max(0, attempts - 1)))


def public_url(url: str) -> str:
    """``url`` without ``user:password@``: what documents and logs may show."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def check_url(ctx: Context, url: str) -> None:
    """Refuse a ``notify_url`` no receiver of this resolver accepts (400, saying what to configure)."""
    if ctx.notifier is None:
        raise BadRequest(
            "this resolver sends no completion notifications: leave notify_url out, or configure a "
            "receiver list (see docs/deploy.md, 'Notification receivers')"
        )
    reason = ctx.notifier.refusal(url)
    if reason:
        raise BadRequest(reason)


def announce(ctx: Context, kind: str, record: Record) -> None:
    """A record just became final: claim its first attempt and hand it to the worker at once.
    Without a worker the record stays due, and the reconciler sends it."""
    if ctx.dispatch is None or not _pending(record):
        return
    attempt = claim(ctx, kind, record)
    if attempt is not None:
        _dispatch(ctx, (kind, _id(record), attempt))


def on_due(ctx: Context, kind: str, record: Record, inline: list[Claimed]) -> str:
    """The reconciler found ``record`` due for a notification. Claim an attempt and dispatch it;
    without a worker, append it to ``inline`` (sent after the pass's other work), at most
    :data:`INLINE_PER_PASS` a pass."""
    if ctx.dispatch is None and len(inline) >= INLINE_PER_PASS:
        return "notify_deferred"
    attempt = claim(ctx, kind, record)
    if attempt is None:
        return "stale"
    if ctx.dispatch is None:
        inline.append((kind, _id(record), attempt))
    else:
        _dispatch(ctx, (kind, _id(record), attempt))
    return "notify_claimed"


def claim(ctx: Context, kind: str, record: Record) -> int | None:
    """Write the next attempt's number and when the one after it is due, before sending.
    Returns the attempt number, or None if there is nothing to send (or the record moved)."""
    if not _pending(record):
        return None
    attempts = record.notify_attempts + 1
    last = attempts >= ctx.settings.notify_max_attempts
    changes = {"notify_attempts": attempts, "due_at": None if last else ctx.now() + backoff(ctx, attempts)}
    try:
        _update(ctx, kind, record, changes)
    except StoreConflict:
        return None
    return attempts


def send(ctx: Context, kind: str, record_id: str, attempt: int) -> bool:
    """Make claimed attempt ``attempt``: POST the document (the notifier bounds it by a deadline)
    and record an acceptance. A stale attempt (delivered meanwhile, or a later one claimed) is
    not sent."""
    record = ctx.store.get_run(record_id) if kind == "run" else ctx.store.get_promise(record_id)
    if record is None or not _pending(record) or record.notify_attempts != attempt:
        return False
    assert record.notify_url is not None
    what = f"{kind} {record_id}"
    ok = _attempt(ctx, kind, record_id, record.notify_url)
    if ok:
        ctx.event("notified", {"what": what, "attempts": attempt})
        # A final record cannot change state; a lost write would only mean one more attempt.
        with contextlib.suppress(StoreConflict):
            _update(ctx, kind, record, {"notified_at": ctx.now(), "due_at": None})
    elif attempt >= ctx.settings.notify_max_attempts:
        log.error("giving up notifying %s after %d attempts", what, attempt)
        ctx.event("notify_gave_up", {"what": what, "attempts": attempt})
    return ok


def send_all(ctx: Context, claimed: list[Claimed]) -> None:
    """Send attempts claimed during a reconciler pass, after its other work."""
    for kind, record_id, attempt in claimed:
        send(ctx, kind, record_id, attempt)


class DeliveryWorker:
    """Sends claimed attempts on a background thread (``lakehook dev``, embedded resolvers).

    It is a dispatcher (``ctx.dispatch = DeliveryWorker(ctx)``); a call never blocks: when the
    queue is full the attempt is dropped, and the claim already made it due again for the
    reconciler. One attempt at a time, each bounded by the notifier's
    deadline, so a slow receiver delays only the notifications queued behind it.
    """

    def __init__(self, ctx: Context, *, capacity: int = 1000) -> None:
        self.ctx = ctx
        self._queue: queue.Queue[Claimed | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._loop, name="lakehook-notify", daemon=True)
        self._thread.start()

    def __call__(self, kind: str, record_id: str, attempt: int) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait((kind, record_id, attempt))

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                send(self.ctx, *item)
            except Exception:  # noqa: BLE001 - the worker outlives one bad attempt; it stays due
                log.exception("notification %s %s (attempt %d) failed", *item)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop after the attempt in progress; what is still queued stays due in the store."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout_s)


def _pending(record: Record) -> bool:
    final = record.state.final if isinstance(record, Run) else record.state.settled and record.run_id is None
    return bool(record.notify_url) and record.notified_at is None and final


def _id(record: Record) -> str:
    return record.run_id if isinstance(record, Run) else record.id


def _update(ctx: Context, kind: str, record: Record, changes: dict[str, Any]) -> None:
    if isinstance(record, Run):
        ctx.writes.set_run_fields(record.run_id, changes, while_in=record.state)
    else:
        ctx.writes.set_promise_fields(record.id, changes, while_in=record.state)


def _dispatch(ctx: Context, claimed: Claimed) -> None:
    assert ctx.dispatch is not None
    try:
        ctx.dispatch(*claimed)
    except Exception:  # noqa: BLE001 - the claim made it due again: the reconciler retries it
        log.warning("could not hand notification %s %s to the worker; it stays due", *claimed[:2])


def _attempt(ctx: Context, kind: str, record_id: str, url: str) -> bool:
    if ctx.notifier is None:
        log.warning("%s %s has a notify_url but this resolver has no notifier", kind, record_id)
        return False
    try:
        return ctx.notifier.notify(kind, record_id, url)
    except Exception:  # noqa: BLE001 - a receiver's failure must never fail the resolver
        log.exception("notification of %s %s failed", kind, record_id)
        return False
