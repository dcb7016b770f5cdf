"""The errors ``notebook_lib`` raises on purpose, under one base: :class:`LakehookError`.

A notebook that wants to tell "the resolver said no" from "the resolver could not be reached"
catches the subclasses; one that does not care catches the base. No message, attribute or repr
of these errors ever carries the promise's token.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class LakehookError(Exception):
    """Base of every error the notebook helper raises on purpose."""


class AlreadySettledError(LakehookError):
    """The promise was already settled differently, or timed out, before this call (HTTP 409).

    A late ``notify_done`` after a timeout lands here: it must not look like success. The stored
    promise document is in :attr:`promise` (``state`` tells which of the two happened).
    """

    def __init__(self, message: str, *, promise: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.promise: dict[str, Any] = promise or {}


class CallbackRejected(LakehookError):
    """The resolver refused the call for good (400, 401, 403, 413, 422, ...); not retried.

    :attr:`status` is the HTTP status, :attr:`code` the resolver's stable error code (for
    example ``unauthorized`` or ``value_too_large``) and :attr:`server_message` its message.
    """

    def __init__(self, message: str, *, status: int, code: str, server_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.server_message = server_message


class DeliveryError(LakehookError):
    """Every attempt to reach the resolver failed before the deadline ran out.

    Raised after retrying connection errors, timeouts, 429, 5xx and 404. :attr:`attempts`,
    :attr:`elapsed_s`, :attr:`last_status` (``None`` when no HTTP answer came back) and
    :attr:`last_error` say what happened; the promise may or may not be settled.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        elapsed_s: float,
        last_status: int | None,
        last_error: str,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.elapsed_s = elapsed_s
        self.last_status = last_status
        self.last_error = last_error


class ValueTooLargeError(LakehookError, ValueError):
    """The value's JSON is larger than the resolver accepts (256 KiB); nothing was sent.

    Pass data by reference instead: a table name (``main.sales.daily_2026_11_23``) or a Unity
    Catalog volume path (``/Volumes/main/sales/exports/daily.parquet``).
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit
