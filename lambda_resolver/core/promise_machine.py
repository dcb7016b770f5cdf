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
from dataclasses import dataclass
from typing import Any

from lambda_resolver.core.models import JSON, Promise, PromiseState


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


@dataclass(frozen=True)
class SettleRequest:
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
    if req.idempotency_key is not None and req.idempotency_key == p.idempotency_key:
        return Verdict.DUPLICATE
    if req.state is p.state and _same(req, p):
        return Verdict.DUPLICATE
    return Verdict.CONFLICT


#: The only state whose deadline a heartbeat may move.
EXTENDABLE = PromiseState.PENDING


def can_extend(p: Promise, now: int) -> bool:
    """A heartbeat extends only a pending promise that has not yet timed out."""
    return p.state is EXTENDABLE and now < p.timeout_at


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
