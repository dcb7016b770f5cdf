"""Identifiers: validation, run and promise ids, idempotency tokens, callback tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from datetime import datetime, timezone

from lambda_resolver.core.errors import InvalidId

ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_RUN_ID = 64


def check_id(value: str, what: str = "id") -> str:
    """``value`` if it is a valid id (``[A-Za-z0-9._:-]{1,128}``), else InvalidId."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidId(f"{what} must match [A-Za-z0-9._:-]{{1,128}}, got {value!r:.140}")
    return value


def new_run_id(flow: str, now_ms: int) -> str:
    """A readable, time-sortable run id: ``<flow>-<UTC yyyymmddThhmmss>-<6 hex>``."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_ms / 1000))
    return f"{flow[:40]}-{stamp}-{secrets.token_hex(3)}"


def scheduled_run_id(flow: str, slot: datetime) -> str:
    """The run id of a flow's schedule slot: ``<flow>:<slot UTC YYYY-MM-DDTHH:MM:SSZ>``.

    Deterministic, so every signal that sees a slot due starts the same run (one run per slot).
    Run ids hold at most 64 characters: a flow name longer than 43 is cut and suffixed with a
    digest of the whole name (``<first 34>-<8 hex>``), so it stays unique and stable.
    """
    if slot.tzinfo is None or slot.utcoffset() is None:
        raise ValueError("a slot must be a timezone-aware datetime (UTC)")
    stamp = slot.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = flow
    if len(flow) + 1 + len(stamp) > MAX_RUN_ID:
        head = f"{flow[:34]}-{hashlib.sha256(flow.encode()).hexdigest()[:8]}"
    return check_id(f"{head}:{stamp}", "scheduled run id")


def task_promise_id(run_id: str, task_key: str, attempt: int) -> str:
    """The promise id of one attempt of one task: ``<run>.<task>.<attempt>``.

    Task keys cannot contain dots, so the id parses from the right. A task key that would push
    the id past 128 characters is replaced by a stable digest of it.
    """
    pid = f"{run_id}.{task_key}.{attempt}"
    if len(pid) <= 128:
        return pid
    digest = hashlib.sha256(task_key.encode()).hexdigest()[:16]
    return f"{run_id}.k{digest}.{attempt}"


def idempotency_token(promise_id: str) -> str:
    """The ``run_now`` idempotency token of a promise: deterministic, 46 characters (≤ 64).

    Derived from the promise id alone, so a re-drive after a crash sends the same token and
    Databricks returns the run it already started instead of starting another.
    """
    return "lh-" + hashlib.sha256(promise_id.encode()).hexdigest()[:43]


NONCE_BYTES = 12  # 96 random bits, drawn when a promise is created and stored with it
LEGACY = ""
"""The nonce a token of the first format carries: none (the HMAC covers the promise id alone)."""

# ``<run>.<task>.<attempt>``: the shape of a task attempt's promise id (see task_promise_id).
TASK_PROMISE_SHAPE = re.compile(r".+\.[A-Za-z0-9_-]{1,100}\.[0-9]+")


def new_nonce() -> str:
    """A fresh promise nonce: 16 URL-safe characters (no dot, so it fits inside a token)."""
    return secrets.token_urlsafe(NONCE_BYTES)


def parse_task_promise_id(promise_id: str) -> tuple[str, str, int] | None:
    """(run id, task key, attempt) of a task attempt's promise id, or None if it is not one that
    names its task (another shape, or a long key's digest): what stores resolve to a task record."""
    run_id, key, attempt = [*promise_id.rsplit(".", 2), "", ""][:3]
    if not run_id or not key or not attempt.isdigit() or not attempt.isascii():
        return None
    if task_promise_id(run_id, key, int(attempt)) != promise_id:
        return None
    return run_id, key, int(attempt)


def looks_like_task_promise(promise_id: str) -> bool:
    """Whether ``promise_id`` has the shape of a task attempt's id (``<run>.<task>.<attempt>``)."""
    return TASK_PROMISE_SHAPE.fullmatch(promise_id) is not None


class TokenSigner:
    """Per-promise callback tokens, bound to the promise's creation.

    ``<kid>.<nonce>.<base64url(HMAC-SHA256(key, "v2" NUL promise id NUL nonce))>``: the nonce is
    drawn when the promise is created and stored with it, so a token minted for an earlier
    promise under the same id opens nothing (the caller compares the token's nonce with the
    stored one). Tokens of the first format, ``<kid>.<base64url(HMAC(key, promise id))>``, still
    verify — for promises created before nonces existed, which store none. Several keys verify
    at once (rotation); the active one signs. Comparison is constant time.
    """

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"active key id {active!r} is not among the keys")
        for kid, key in keys.items():
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", kid):
                raise ValueError(f"key id {kid!r} must match [A-Za-z0-9_-]{{1,32}}")
            if len(key) < 16:
                raise ValueError(f"key {kid!r} is too short: use at least 16 random bytes")
        self._keys = dict(keys)
        self._active = active

    def __repr__(self) -> str:
        return f"TokenSigner(kids={sorted(self._keys)}, active={self._active!r})"

    def token(self, promise_id: str, nonce: str | None = None) -> str:
        """The token of ``promise_id`` created with ``nonce`` (None: the first, id-only format)."""
        key = self._keys[self._active]
        if not nonce:
            return f"{self._active}.{self._mac(key, promise_id)}"
        return f"{self._active}.{nonce}.{self._mac(key, promise_id, nonce)}"

    def nonce_of(self, promise_id: str, token: str) -> str | None:
        """The nonce ``token`` binds ``promise_id`` to (``LEGACY`` for the first format), or None
        if it is not a token of ``promise_id`` under any known key (constant time)."""
        kid, sep, rest = token.partition(".")
        nonce, dot, mac = rest.rpartition(".")
        if not dot:
            nonce = LEGACY
        key = self._keys.get(kid)
        given = mac.encode("utf-8", "surrogatepass")  # bytes: any text compares, never raises
        if not sep or key is None:
            # Still spend the comparison so a wrong kid and a wrong mac take the same time.
            hmac.compare_digest(given, self._mac(self._keys[self._active], promise_id, nonce).encode())
            return None
        if hmac.compare_digest(given, self._mac(key, promise_id, nonce).encode()):
            return nonce
        return None

    def verify(self, promise_id: str, token: str, nonce: str | None = None) -> bool:
        """Whether ``token`` is the token of ``promise_id`` created with ``nonce``."""
        return self.nonce_of(promise_id, token) == (nonce or LEGACY)

    @staticmethod
    def _mac(key: bytes, promise_id: str, nonce: str = LEGACY) -> str:
        message = f"v2\0{promise_id}\0{nonce}" if nonce else promise_id
        digest = hmac.new(key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
