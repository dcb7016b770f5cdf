"""Signed completion webhooks, Standard Webhooks style (standardwebhooks.com).

The resolver POSTs a finished run's (or settled promise's) document with three headers:
``webhook-id`` (stable across retries, so receivers deduplicate), ``webhook-timestamp`` (epoch
seconds) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``).
:func:`verify` is what a receiver calls; it rejects forged, replayed and stale messages. Secrets
are ``whsec_<base64 key>`` (or raw bytes). Standard library only, so any backend can import it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

TOLERANCE_S = 300


class WebhookVerificationError(Exception):
    """The message is not a valid, fresh lakehook webhook. The reason is in the message."""


def secret_bytes(secret: str | bytes) -> bytes:
    """The HMAC key of a ``whsec_...`` secret (or raw bytes, used as they are)."""
    if isinstance(secret, bytes):
        return secret
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for a message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str | bytes, msg_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The three signature headers (plus Content-Type) for POSTing ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
        "Content-Type": "application/json",
    }


def verify(
    secret: str | bytes,
    request_headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_s: int = TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a received webhook and return its JSON payload.

    Raises WebhookVerificationError — and nothing else, whatever the headers and body hold —
    when a header is missing, the timestamp is not epoch seconds or is more than ``tolerance_s``
    away from now (a replay or a stale message), or no signature matches. It does not remember
    the messages it saw: a replay within the tolerance verifies again, so a receiver deduplicates
    on ``webhook-id`` (stable across the resolver's retries).
    """
    h = {k.lower(): v for k, v in request_headers.items()}
    msg_id, ts_text, signatures = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not msg_id or not ts_text or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not (ts_text.isascii() and ts_text.isdigit() and len(ts_text) <= 12):
        raise WebhookVerificationError("webhook-timestamp is not a number of seconds")
    ts = int(ts_text)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise WebhookVerificationError(f"webhook-timestamp is more than {tolerance_s} s from now")
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret, msg_id, ts, raw).split(",", 1)[1].encode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        # bytes: any header text compares (str compare_digest raises on non-ASCII), in constant time
        if version == "v1" and hmac.compare_digest(value.encode("utf-8", "replace"), expected):
            try:
                payload: dict[str, Any] = json.loads(raw)
            except ValueError:
                raise WebhookVerificationError("the signed body is not JSON") from None
            return payload
    raise WebhookVerificationError("no signature matches")


def __getattr__(name: str) -> Any:
    """``HttpNotifier`` lives in :mod:`lambda_resolver.delivery`; kept importable from here."""
    if name == "HttpNotifier":
        from lambda_resolver.delivery import HttpNotifier

        return HttpNotifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
