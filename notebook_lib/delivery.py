"""Delivering one callback to the resolver: one POST, retried until a deadline.

Retried (exponential backoff with full jitter, the whole call bounded by a deadline): connection
errors, timeouts, 408, 429 (honouring ``Retry-After``), 5xx and 404 (a settle can race the
promise's creation). Answered for good: 2xx returns the promise document, 409 raises
:class:`AlreadySettledError`, any other status raises :class:`CallbackRejected`. Every attempt
of one call carries the same ``Idempotency-Key``, so the resolver applies it at most once.

``requests`` is imported here, at call time, never at import. The token travels only in the
``Authorization`` header; every text that leaves this module goes through :func:`redact`.
"""

from __future__ import annotations

import os
import sys

from notebook_lib.errors import AlreadySettledError, CallbackRejected, DeliveryError, LakehookError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Protocol

    from notebook_lib.handle import Handle

    class Response(Protocol):
        """What is read from an answer: ``requests.Response`` has it."""

        @property
        def status_code(self) -> int: ...
        @property
        def headers(self) -> Mapping[str, str]: ...
        @property
        def content(self) -> bytes: ...

    class Session(Protocol):
        """The injectable transport: ``requests.Session`` or anything with this ``post``."""

        def post(
            self,
            url: str,
            *,
            data: bytes,
            headers: dict[str, str],
            timeout: float,
            allow_redirects: bool,
        ) -> Response: ...


DEFAULT_TIMEOUT_S = 120.0
"""Total time one call may spend, retries included (``LAKEHOOK_CALLBACK_TIMEOUT_S``)."""
DEFAULT_ATTEMPT_TIMEOUT_S = 30.0
"""Connect + read timeout of one attempt (``LAKEHOOK_ATTEMPT_TIMEOUT_S``), clipped to the deadline."""
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 10.0
MIN_ATTEMPT_S = 0.05  # no attempt starts with less time than this left before the deadline
RETRY_STATUSES = frozenset({404, 408, 429})  # and every 5xx


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from environment variable ``name``, else ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive finite number of seconds, got {raw!r}")
    return value


def resolve_timeout(timeout_s: float | None) -> float:
    """The call's deadline in seconds: the argument, else the environment, else 120 s."""
    if timeout_s is None:
        return env_seconds("LAKEHOOK_CALLBACK_TIMEOUT_S", DEFAULT_TIMEOUT_S)
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    return float(timeout_s)


def redact(text: str, token: str) -> str:
    """``text`` with every occurrence of ``token`` replaced by ``***``."""
    return text.replace(token, "***") if token else text


def deliver(
    handle: Handle,
    action: str,
    body: bytes,
    *,
    timeout_s: float | None = None,
    session: Session | None = None,
) -> dict[str, Any]:
    """POST ``body`` to ``{url}/v1/promises/{id}/{action}`` until an answer or the deadline.

    Returns the promise document of a 2xx answer; raises :class:`AlreadySettledError`,
    :class:`CallbackRejected` or, once the deadline is spent, :class:`DeliveryError`.
    """
    import random
    import time
    import uuid
    from urllib.parse import quote

    deadline_s = resolve_timeout(timeout_s)
    attempt_s = env_seconds("LAKEHOOK_ATTEMPT_TIMEOUT_S", DEFAULT_ATTEMPT_TIMEOUT_S)
    pid, token = handle.promise_id, handle.token
    url = f"{handle.url}/v1/promises/{quote(pid, safe='')}/{action}"
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Idempotency-Key": str(uuid.uuid4()),  # one key for every attempt of this call
        "User-Agent": "lakehook-notebook/0.1",
    }
    own = None
    if session is None:
        import requests

        own = session = requests.Session()
    sess: Session = session
    log = _logger()
    start = time.monotonic()
    deadline = start + deadline_s
    attempt, last_status, last_error, note = 0, None, "", ""
    try:
        while True:
            attempt += 1
            per_try = max(MIN_ATTEMPT_S, min(attempt_s, deadline - time.monotonic()))
            retry_after: float | None = None
            try:
                resp = sess.post(url, data=body, headers=headers, timeout=per_try, allow_redirects=False)
            except Exception as exc:  # noqa: BLE001 - sorted into transient or not just below
                text = redact(f"{type(exc).__name__}: {exc}", token)
                if not _is_transient(exc):
                    # `from None`: a requests exception keeps the request, Authorization included.
                    raise LakehookError(f"cannot call the resolver for {action} of {pid}: {text}") from None
                last_status, last_error = None, text
            else:
                status = resp.status_code
                if 200 <= status < 300:
                    log.info(
                        "lakehook: %s of promise %s accepted (HTTP %d, %d attempt(s), %.2f s)",
                        action, pid, status, attempt, time.monotonic() - start,
                    )  # fmt: skip
                    return _json_object(resp.content)
                code, message, doc = _error_fields(resp.content, status)
                message = redact(message, token)
                if status == 409:
                    state = doc.get("state", "unknown") if isinstance(doc, dict) else "unknown"
                    raise AlreadySettledError(
                        f"promise {pid} was already settled differently or timed out "
                        f"(state {state}); this {action} was not applied: {message}",
                        promise=doc if isinstance(doc, dict) else {},
                    )
                if status not in RETRY_STATUSES and status < 500:
                    raise CallbackRejected(
                        f"the resolver refused {action} of promise {pid}: HTTP {status} {code}: {message}",
                        status=status,
                        code=code,
                        server_message=message,
                    )
                last_status, last_error = status, f"HTTP {status} {code}: {message}"
                if status in (429, 503):
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
            left = deadline - time.monotonic() - MIN_ATTEMPT_S
            if retry_after is not None and retry_after > left:
                note = f"; the resolver asked to retry after {retry_after:g} s, past the deadline"
                break
            if left <= 0:
                break
            if retry_after is not None:
                wait = retry_after
            else:  # full jitter, clipped so that one last attempt still fits before the deadline
                backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
                wait = min(left, random.uniform(0, backoff))  # noqa: S311 - jitter, not crypto
            log.warning(
                "lakehook: %s of promise %s, attempt %d failed (%s); retrying in %.2f s",
                action, pid, attempt, last_error, wait,
            )  # fmt: skip
            time.sleep(wait)
    finally:
        if own is not None:
            own.close()
    elapsed = time.monotonic() - start
    raise DeliveryError(
        f"could not deliver {action} of promise {pid} to {handle.url}: gave up after {attempt} "
        f"attempt(s) over {elapsed:.1f} s (deadline {deadline_s:g} s); last error: {last_error}{note}",
        attempts=attempt,
        elapsed_s=elapsed,
        last_status=last_status,
        last_error=last_error,
    )


def _is_transient(exc: BaseException) -> bool:
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(exc, requests.RequestException):
        transient = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
        return isinstance(exc, transient)
    return isinstance(exc, OSError)  # refused, reset, timed out: from a non-requests transport


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date; ``None`` if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import time
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _json_object(content: bytes) -> dict[str, Any]:
    import json

    try:
        doc = json.loads(content or b"{}")
    except ValueError:
        _logger().warning("lakehook: the resolver's success answer is not JSON; returning {}")
        return {}
    return doc if isinstance(doc, dict) else {}


def _error_fields(content: bytes, status: int) -> tuple[str, str, Any]:
    """``(code, message, promise)`` from ``{"error": {"code", "message", "promise"}}``."""
    import json

    try:
        err = json.loads(content).get("error")
    except (ValueError, AttributeError):
        err = None
    if not isinstance(err, dict):
        snippet = content[:200].decode("utf-8", "replace").strip()
        return f"http_{status}", snippet or "(no error body)", None
    return str(err.get("code") or f"http_{status}"), str(err.get("message") or ""), err.get("promise")


def _logger() -> Any:
    import logging

    return logging.getLogger("notebook_lib")
