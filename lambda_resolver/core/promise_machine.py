"""The strict durable-promise state machine, in one place (DESIGN §3).

``PENDING → RESOLVED | REJECTED | REJECTED_CANCELED | REJECTED_TIMEDOUT``; a settled promise
never changes. :func:`decide` is pure: given the stored promise and a settle request it says
what to write and how to answer. The store enforces the same condition in its write
(state is PENDING, and the deadline has not passed), so a decision taken on a stale read
loses its conditional write instead of overwriting anything.
"""

from __future__ import annotations

import enum
import json
from typing import Any, NamedTuple

from lambda_resolver.core.errors import Unauthorized
from lambda_resolver.core.models import JSON, Promise, PromiseState

MAX_LIFETIME_S = 7 * 24 * 3600
"""Heartbeats never move a deadline past ``created_at`` + this (a longer first timeout stands)."""


class Verdict(str, enum.Enum):
    APPLY = "apply"  # write the settle (conditionally), answer 200 with the new promise
    DUPLICATE = "duplicate"  # already settled the same way: answer 200 with the stored promise
    CONFLICT = "conflict"  # settled differently: answer 409 with the stored promise
    EXPIRE = "expire"  # pending past its deadline: write REJECTED_TIMEDOUT first, then CONFLICT


#: Every legal promise transition: only a pending promise changes, into any settled state.
TRANSITIONS: dict[PromiseState, frozenset[PromiseState]] = {
    PromiseState.PENDING: frozenset(s for s in PromiseState if s is not PromiseState.PENDING),
}


def sources_of(target: PromiseState) -> frozenset[PromiseState]:
    """The states a promise may be in for a move to ``target`` to be legal."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


def unchanged(state: PromiseState | None) -> PromiseState | None:
    """The condition of a write that changes no state: the promise is still in ``state``
    (None: whatever its state)."""
    return state


class SettleRequest(NamedTuple):
    state: PromiseState
    value: JSON = None
    error: dict[str, Any] | None = None
    idempotency_key: str | None = None


def decide(p: Promise, req: SettleRequest, now: int) -> Verdict:
    """What a settle request does to ``p`` at time ``now`` (epoch ms)."""
    if req.state is PromiseState.PENDING:
        raise ValueError("a promise cannot be settled to PENDING")
    if p.state is PromiseState.PENDING:
        if now < p.timeout_at:
            return Verdict.APPLY
        # Past its deadline a promise is timed out, whoever asks first. A timeout request is
        # then simply the settle that wins.
        return Verdict.APPLY if req.state is PromiseState.REJECTED_TIMEDOUT else Verdict.EXPIRE
    # The outcome decides, never the Idempotency-Key: a key reused for a different request is a
    # conflict, not a duplicate (DESIGN §3), so a key cannot replay someone else's answer.
    if req.state is p.state and _same(req, p):
        return Verdict.DUPLICATE
    return Verdict.CONFLICT


#: The only state whose deadline a heartbeat may move.
EXTENDABLE = PromiseState.PENDING


def can_extend(p: Promise, now: int) -> bool:
    """A heartbeat extends only a pending promise that has not yet timed out."""
    return p.state is EXTENDABLE and now < p.timeout_at


def extended_deadline(p: Promise, now: int, extend_s: int | None) -> int:
    """The deadline a heartbeat at ``now`` gives ``p``: ``extend_s`` (default: the promise's
    first span) from now, never earlier than it was, never past ``created_at + MAX_LIFETIME_S``."""
    span = extend_s or max(1, (p.timeout_at - p.created_at) // 1000)
    cap = p.created_at + MAX_LIFETIME_S * 1000
    return max(p.timeout_at, min(now + span * 1000, cap))


class TokenMismatch(Unauthorized):
    """A callback token made for another creation of this promise id, or of the wrong format."""


def check_token(p: Promise, token_nonce: str | None) -> None:
    """Admit a callback token's nonce for ``p`` (None: no token — an operator, the resolver).

    A promise created with a nonce takes only tokens carrying it; one created before nonces
    existed (none stored) takes only first-format tokens (nonce ``""``, ``ids.LEGACY``).
    """
    if token_nonce is not None and token_nonce != (p.nonce or ""):
        raise TokenMismatch("missing or invalid credentials")


def _same(req: SettleRequest, p: Promise) -> bool:
    if req.state is PromiseState.RESOLVED:
        return canonical(req.value) == canonical(p.value)
    if req.state is PromiseState.REJECTED:
        return canonical(req.error) == canonical(p.error)
    # canceled/timed out carry no value worth comparing: the same outcome is a duplicate.
    return True


def canonical(value: JSON) -> str:
    """A JSON value in a canonical text form, for equality of values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
