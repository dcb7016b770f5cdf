"""Time in epoch milliseconds, injectable so tests drive timeouts and retries."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Epoch milliseconds."""
        ...


class SystemClock:
    def now(self) -> int:
        return time.time_ns() // 1_000_000


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, start: int = 1_790_000_000_000) -> None:
        self.t = start

    def now(self) -> int:
        return self.t

    def advance(self, ms: int) -> None:
        self.t += ms


def iso(ms: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds: ``2026-11-23T10:00:00.123Z``."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
