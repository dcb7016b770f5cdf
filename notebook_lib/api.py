"""The three calls a notebook makes: :func:`notify_done`, :func:`notify_failed`, :func:`heartbeat`.

Each one finds this run's handle (see :mod:`notebook_lib.discovery`), does nothing off-flow,
and otherwise POSTs to the resolver with retries (see :mod:`notebook_lib.delivery`). Context is
read inside the call, never at import.
"""

from __future__ import annotations

from notebook_lib.delivery import deliver, redact
from notebook_lib.discovery import find_handle
from notebook_lib.values import encode_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from notebook_lib.delivery import Session
    from notebook_lib.handle import Handle

TRACEBACK_FRAMES = 20
"""How many of the innermost frames of a traceback are sent."""
TEXT_LIMIT_BYTES = 8192
"""The most UTF-8 bytes sent for an error message, and for its traceback."""


def notify_done(
    value: object = None,
    *,
    handle: str | Handle | None = None,
    timeout_s: float | None = None,
    session: Session | None = None,
) -> dict[str, Any] | None:
    """Resolve this task's promise with ``value``; return the promise document.

    ``value`` must be JSON (with the conversions of :mod:`notebook_lib.values`) and at most
    256 KiB; it is checked before anything is sent, even off-flow, so a notebook that would fail
    in a flow fails the same way by hand. Off-flow: warns once and returns ``None``.
    """
    data = encode_value(value)
    found = find_handle(handle)
    if found is None:
        return None
    return deliver(found, "resolve", b'{"value":' + data + b"}", timeout_s=timeout_s, session=session)


def notify_failed(
    error: BaseException | str,
    *,
    handle: str | Handle | None = None,
    timeout_s: float | None = None,
    session: Session | None = None,
) -> dict[str, Any] | None:
    """Reject this task's promise with ``error``; return the promise document.

    An exception sends its type name, message and trimmed traceback (the last 20 frames, at most
    8 KiB); a string sends type ``"Error"``. Off-flow: warns once and returns ``None``.
    """
    found = find_handle(handle)
    if found is None:
        return None
    import json

    body = json.dumps({"error": error_payload(error, token=found.token)}, ensure_ascii=False)
    return deliver(found, "reject", body.encode("utf-8"), timeout_s=timeout_s, session=session)


def heartbeat(
    *,
    handle: str | Handle | None = None,
    extend_s: float | None = None,
    timeout_s: float | None = None,
    session: Session | None = None,
) -> dict[str, Any] | None:
    """Tell the resolver this task is alive, optionally pushing its timeout ``extend_s`` later.

    For long notebooks whose promise timeout is shorter than their run. Returns the promise
    document (its ``timeout_at`` shows the new deadline); off-flow, warns once and returns ``None``.
    """
    if extend_s is not None and not (isinstance(extend_s, (int, float)) and extend_s > 0):
        raise ValueError(f"extend_s must be a positive number of seconds, got {extend_s!r}")
    found = find_handle(handle)
    if found is None:
        return None
    import json

    body = json.dumps({} if extend_s is None else {"extend_s": extend_s}).encode("utf-8")
    return deliver(found, "heartbeat", body, timeout_s=timeout_s, session=session)


def error_payload(error: BaseException | str, *, token: str = "") -> dict[str, str]:
    """The reject body's ``error`` object: ``{"type", "message", "traceback"}``, trimmed.

    ``token`` (when given) is scrubbed from all three, in case the failure quoted the handle.
    """
    if isinstance(error, BaseException):
        err_type = type(error).__name__
        try:
            message = str(error)
        except Exception:  # noqa: BLE001 - a broken __str__ must not hide the failure
            message = f"<{err_type}: str() failed>"
        import traceback

        lines = traceback.format_exception(type(error), error, error.__traceback__, limit=-TRACEBACK_FRAMES)
        trace = "".join(lines)
    else:
        err_type, message, trace = "Error", str(error), ""
    # Redact before trimming: a cut could leave a piece of the token that no longer matches.
    return {
        "type": err_type,
        "message": _head(redact(message, token), TEXT_LIMIT_BYTES),
        "traceback": _tail(redact(trace, token), TEXT_LIMIT_BYTES),
    }


def _head(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 16].decode("utf-8", "ignore") + " ...(truncated)"


def _tail(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return "...(trimmed)\n" + data[-(limit - 16) :].decode("utf-8", "ignore")
