"""Scripted faults for the local workspace: what a flaky Databricks does to its clients.

A test queues faults per route (``jobs/run-now``, ``jobs/runs/get``, ... or ``*`` for any);
each request to that route takes the next one. ``http(429, retry_after=0)`` and ``http(503)``
are what the SDK retries, ``http(500)`` is what it does not, ``delay(ms)`` slows the answer,
``drop()`` closes the connection before handling the request and ``drop_after()`` after
handling it — the lost response that makes a client re-send a run-now that already started.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

# status → the error_code Databricks sends with it (the SDK maps codes to exception classes).
# Messages avoid "Unexpected error": the SDK retries any error whose message contains it.
_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour. Build it with :meth:`http`, :meth:`delay`, :meth:`drop`."""

    kind: str  # "http" | "delay" | "drop" | "drop_after"
    status: int = 0
    retry_after: int | None = None
    delay_ms: int = 0
    error_code: str = ""
    message: str = ""

    @classmethod
    def http(
        cls, status: int, *, retry_after: int | None = None, message: str = "", error_code: str = ""
    ) -> Fault:
        """Answer ``status`` with a Databricks error body (and ``Retry-After`` when given)."""
        return cls(
            "http",
            status=status,
            retry_after=retry_after,
            error_code=error_code or _CODES.get(status, "INJECTED_FAULT"),
            message=message or f"injected fault: HTTP {status}",
        )

    @classmethod
    def delay(cls, ms: int) -> Fault:
        """Sleep ``ms`` before handling the request normally."""
        return cls("delay", delay_ms=ms)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without handling the request."""
        return cls("drop")

    @classmethod
    def drop_after(cls) -> Fault:
        """Handle the request, then close the connection instead of answering."""
        return cls("drop_after")


class Faults:
    """Per-route fault queues. Thread-safe; ``applied`` counts faults served per route."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[tuple[Fault, int | None]]] = {}
        self._lock = threading.Lock()
        self.applied: Counter[str] = Counter()

    def add(self, route: str, fault: Fault, times: int | None = 1) -> None:
        """Serve ``fault`` to the next ``times`` requests to ``route`` (None: until cleared),
        after the faults already queued for it."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for always)")
        with self._lock:
            self._queues.setdefault(route.strip("/"), deque()).append((fault, times))

    def clear(self, route: str | None = None) -> None:
        """Drop the queued faults of ``route``, or of every route."""
        with self._lock:
            if route is None:
                self._queues.clear()
            else:
                self._queues.pop(route.strip("/"), None)

    def take(self, route: str) -> Fault | None:
        """The fault for this request to ``route``, if one is queued (consumes it)."""
        with self._lock:
            for key in (route, "*"):
                queue = self._queues.get(key)
                if not queue:
                    continue
                fault, times = queue[0]
                if times is not None:
                    if times <= 1:
                        queue.popleft()
                    else:
                        queue[0] = (fault, times - 1)
                self.applied[route] += 1
                return fault
        return None
