"""Schedule slots as UTC instants: cron slots in a time zone, periodic slots, missed slots.

A cron slot is a wall time the expression matches, read in the schedule's zone. Daylight saving
follows Databricks (whose scheduler is Quartz): a wall time in a gap (the hour skipped in spring)
does not fire; one in an overlap (the hour repeated in autumn) fires once, at its second
occurrence. The slots of a schedule are therefore one strictly increasing sequence of instants,
and every function here answers a question about that sequence: the next one after a time, the
latest one at or before a time, how many lie between two times — each in work proportional to
days (never to seconds), so a year of downtime of an every-second schedule costs ~1,000 steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from lambda_resolver.core.schedule import walltime
from lambda_resolver.core.schedule.quartz import CronExpr, parse

UTC = timezone.utc
SECOND = timedelta(seconds=1)
PERIODIC_UNITS = {"MINUTES": 60, "HOURS": 3_600, "DAYS": 86_400, "WEEKS": 604_800}


class ZoneError(ValueError):
    """A ``timezone_id`` that is not an IANA time zone; the message suggests the closest one."""


# Java's custom time zone ids (``GMT+8``, ``GMT-09:30``), which Databricks' ``timezone_id`` takes too
_JAVA_OFFSET = re.compile(r"GMT([+-])([0-9]{1,2})(?::?([0-9]{2}))?")


@lru_cache(maxsize=256)
def zone(timezone_id: str) -> tzinfo:
    """The zone ``timezone_id``: an IANA name (``UTC``, ``Europe/Berlin``...) or a Java custom
    offset (``GMT+8``, ``GMT-09:30``); anything else is a :class:`ZoneError`. (Java would silently
    read an unknown id as GMT; a typo here is an error instead.)"""
    try:
        return ZoneInfo(timezone_id)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        pass
    m = _JAVA_OFFSET.fullmatch(timezone_id) if isinstance(timezone_id, str) else None
    if m is not None and int(m.group(2)) <= 23 and int(m.group(3) or 0) <= 59:
        sign = -1 if m.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)), timezone_id)
    import difflib  # the error path only

    names = sorted(available_timezones())
    same = [n for n in names if n.lower() == str(timezone_id).lower()]
    close = same or difflib.get_close_matches(str(timezone_id), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ZoneError(
        f"timezone_id {timezone_id!r} is not an IANA time zone{hint}; use a name such as 'UTC', "
        f"'Europe/Berlin' or 'America/New_York' (or a fixed offset such as 'GMT+8')"
    )


def _utc(t: datetime, what: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime (UTC), got naive {t.isoformat()}")
    return t.astimezone(UTC)


class Slots(Protocol):
    """A schedule's slots: one strictly increasing sequence of UTC instants (whole seconds)."""

    def next_after(self, after: datetime) -> datetime | None:
        """The first slot strictly after ``after``; None when the schedule never fires again."""
        ...

    def latest_at_or_before(self, t: datetime) -> datetime | None:
        """The last slot at or before ``t``; None when there is none."""
        ...

    def count(self, after: datetime, upto: datetime) -> int:
        """How many slots lie in ``(after, upto]``."""
        ...


@dataclass(frozen=True)
class CronSlots:
    """The slots of a Quartz expression in a time zone."""

    expr: CronExpr
    tz: tzinfo

    @classmethod
    def of(cls, expression: str | CronExpr, timezone_id: str = "UTC") -> CronSlots:
        expr = parse(expression) if isinstance(expression, str) else expression
        return cls(expr, zone(timezone_id))

    def _instant(self, wall: datetime) -> datetime | None:
        """The UTC instant of a wall time: None in a gap, the second occurrence in an overlap."""
        instant = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        if instant.astimezone(self.tz).replace(tzinfo=None, fold=0) != wall:
            return None  # skipped by a spring-forward: that slot does not fire
        return instant

    def _wall(self, t: datetime) -> tuple[datetime, timedelta]:
        """``t``'s wall time (whole seconds) and, when ``t`` is the first pass of a repeated
        hour, how long the repetition is (else zero)."""
        local = t.astimezone(self.tz)
        repeat = timedelta(0)
        if local.fold == 0:
            first, second = local.utcoffset(), local.replace(fold=1).utcoffset()
            if first is not None and second is not None and first > second:
                repeat = first - second
        return local.replace(tzinfo=None, fold=0, microsecond=0), repeat

    def next_after(self, after: datetime) -> datetime | None:
        after = _utc(after, "after")
        wall, repeat = self._wall(after)
        # In the first pass of a repeated hour, the repeated wall times (which fire at their second
        # occurrence) are still ahead although their wall time is behind: start before them.
        wall -= repeat
        while True:
            found = walltime.next_wall(self.expr, wall)
            if found is None:
                return None
            instant = self._instant(found)
            if instant is not None and instant > after:
                return instant
            wall = found + SECOND

    def latest_at_or_before(self, t: datetime) -> datetime | None:
        t = _utc(t, "t")
        wall, _ = self._wall(t)
        while True:
            found = walltime.prev_wall(self.expr, wall)
            if found is None:
                return None
            instant = self._instant(found)
            if instant is not None and instant <= t:
                return instant
            wall = found - SECOND

    def count(self, after: datetime, upto: datetime) -> int:
        first, last = self.next_after(after), self.latest_at_or_before(upto)
        if first is None or last is None or last < first:
            return 0
        lo, hi = self._wall(first)[0], self._wall(last)[0]
        total = walltime.count_walls(self.expr, lo, hi)
        for gap_lo, gap_hi in self._gaps(first, last):  # wall times that never happened
            total -= walltime.count_walls(self.expr, max(gap_lo, lo), min(gap_hi, hi))
        return total

    def _gaps(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The skipped wall-time ranges (inclusive) of the spring-forwards between two instants.

        Offsets are sampled daily (zones change offset at most a few times a year), and each change
        is located to the second by bisection: O(days + changes · 17).
        """
        out: list[tuple[datetime, datetime]] = []
        t, offset = start, self._offset(start)
        while t < end:
            nxt = min(t + timedelta(days=1), end)
            new = self._offset(nxt)
            if new != offset:
                lo, hi = t, nxt  # offset(lo) == offset, offset(hi) == new
                while hi - lo > SECOND:
                    mid = lo + ((hi - lo) // SECOND // 2) * SECOND  # whole seconds
                    lo, hi = (mid, hi) if self._offset(mid) == offset else (lo, mid)
                if new > offset:  # clocks jumped forward at `hi`
                    gap_start = (hi + offset).replace(tzinfo=None)
                    out.append((gap_start, gap_start + (new - offset) - SECOND))
                offset = new
            t = nxt
        return out

    def _offset(self, t: datetime) -> timedelta:
        offset = t.astimezone(self.tz).utcoffset()
        assert offset is not None
        return offset


@dataclass(frozen=True)
class PeriodicSlots:
    """``trigger.periodic`` slots: ``anchor + k · every`` (k ≥ 0), in absolute time (no DST shift)."""

    anchor: datetime
    every: timedelta

    @classmethod
    def of(cls, anchor: datetime, interval: int, unit: str) -> PeriodicSlots:
        """Slots from ``anchor`` (truncated to the second) every ``interval`` ``unit``."""
        if unit not in PERIODIC_UNITS:
            raise ValueError(f"unit {unit!r} must be one of {', '.join(PERIODIC_UNITS)}")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be a whole number of at least 1, got {interval!r}")
        anchor = _utc(anchor, "anchor").replace(microsecond=0)
        return cls(anchor, timedelta(seconds=interval * PERIODIC_UNITS[unit]))

    def _index(self, t: datetime) -> int:
        """The k of the last slot at or before ``t`` (-1 before the anchor)."""
        return (t - self.anchor) // self.every if t >= self.anchor else -1

    def next_after(self, after: datetime) -> datetime | None:
        return self.anchor + (self._index(_utc(after, "after")) + 1) * self.every

    def latest_at_or_before(self, t: datetime) -> datetime | None:
        k = self._index(_utc(t, "t"))
        return None if k < 0 else self.anchor + k * self.every

    def count(self, after: datetime, upto: datetime) -> int:
        return max(0, self._index(_utc(upto, "upto")) - self._index(_utc(after, "after")))


def next_slot(expression: str | CronExpr, timezone_id: str, after_utc: datetime) -> datetime | None:
    """The first slot of a Quartz schedule strictly after ``after_utc``, in UTC (None: never again)."""
    return CronSlots.of(expression, timezone_id).next_after(after_utc)


def next_periodic(anchor_utc: datetime, interval: int, unit: str, after_utc: datetime) -> datetime:
    """The first ``trigger.periodic`` slot strictly after ``after_utc`` (slots: anchor + k · interval)."""
    slot = PeriodicSlots.of(anchor_utc, interval, unit).next_after(after_utc)
    assert slot is not None  # a periodic schedule always fires again
    return slot


@dataclass(frozen=True)
class DueSlot:
    """The slot to run now, and how many earlier slots since the last one were skipped."""

    slot: datetime
    skipped: int


def due_slot(slots: Slots, last: datetime, now: datetime) -> DueSlot | None:
    """The latest slot in ``(last, now]`` and how many before it are skipped; None when none is due.

    ``last`` is the last slot that fired (or the moment the schedule was activated). No backfill:
    only the latest due slot runs; the others are counted, not run — in O(days) work.
    """
    latest = slots.latest_at_or_before(now)
    if latest is None or latest <= _utc(last, "last"):
        return None
    return DueSlot(latest, slots.count(last, latest) - 1)
