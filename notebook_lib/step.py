"""``step()``: settle this task's promise from how a block or a function ends.

As a context manager (``with step() as s: s.value = ...``) or a decorator (``@step()``, the
function's return value is the value). Success calls :func:`notify_done`; an exception calls
:func:`notify_failed` and is then re-raised unchanged, so the Databricks run still fails. If
reporting the failure fails too, that is logged and the original exception still propagates.
"""

from __future__ import annotations

from notebook_lib.api import notify_done, notify_failed
from notebook_lib.values import encode_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, Literal, ParamSpec, TypeVar

    from notebook_lib.delivery import Session
    from notebook_lib.handle import Handle

    P = ParamSpec("P")
    R = TypeVar("R")


class Step:
    """One task body. ``value`` is what :func:`notify_done` sends on success (default ``None``).

    After the block, ``result`` holds the promise document the resolver answered (``None``
    off-flow, or when the report failed). ``SystemExit`` with code 0 or ``None`` counts as
    success; any other exception as failure.
    """

    def __init__(
        self,
        *,
        handle: str | Handle | None = None,
        timeout_s: float | None = None,
        session: Session | None = None,
    ) -> None:
        self.value: Any = None
        self.result: dict[str, Any] | None = None
        self._handle = handle
        self._timeout_s = timeout_s
        self._session = session

    def __repr__(self) -> str:
        # The handle may be a raw string with the token in it: never shown.
        return f"Step(value={self.value!r}, result={self.result!r})"

    def __enter__(self) -> Step:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            self._done()
        else:
            self._failed(exc)
        return False  # never swallow: the run must fail as it would without lakehook

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn``: each call settles the promise with its return value or exception."""
        import functools

        handle, timeout_s, session = self._handle, self._timeout_s, self._session

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with Step(handle=handle, timeout_s=timeout_s, session=session) as s:
                result = fn(*args, **kwargs)
                s.value = result
            return result

        return wrapper

    def _done(self) -> None:
        try:
            encode_value(self.value)
        except (TypeError, ValueError) as exc:
            # The value cannot be sent: reject now rather than leave the promise to time out.
            self._failed(exc)
            raise
        self.result = notify_done(
            self.value, handle=self._handle, timeout_s=self._timeout_s, session=self._session
        )

    def _failed(self, exc: BaseException) -> None:
        try:
            self.result = notify_failed(
                exc, handle=self._handle, timeout_s=self._timeout_s, session=self._session
            )
        except Exception as report_exc:  # noqa: BLE001 - the original exception matters more
            import logging

            # Only the type of the original: its message could quote the handle. It is re-raised.
            logging.getLogger("notebook_lib").error(  # noqa: TRY400 - no traceback, see above
                "lakehook: could not report the failure (%s) to the resolver: %s: %s",
                type(exc).__name__, type(report_exc).__name__, report_exc,
            )  # fmt: skip


def step(
    *,
    handle: str | Handle | None = None,
    timeout_s: float | None = None,
    session: Session | None = None,
) -> Step:
    """A :class:`Step`: use it as ``with step() as s:`` or as the decorator ``@step()``."""
    return Step(handle=handle, timeout_s=timeout_s, session=session)
