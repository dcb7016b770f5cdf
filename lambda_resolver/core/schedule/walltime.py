"""Where a Quartz expression fires on the wall clock: next, previous and how many, without zones.

Times here are naive local wall-clock datetimes; ``slots`` maps them to instants in a time zone.
The search walks months and days, never seconds: a month is skipped in one step when its year or
month does not match, so even an expression that never fires is refuted in ~1,600 month steps.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from lambda_resolver.core.schedule.quartz import MAX_YEAR, CronExpr

_SUN, _SAT = 1, 7  # Quartz day-of-week numbers


def quartz_weekday(d: date) -> int:
    """Quartz's day-of-week number of ``d``: 1 = Sunday … 7 = Saturday."""
    return (d.weekday() + 1) % 7 + 1


@lru_cache(maxsize=4096)
def month_days(expr: CronExpr, year: int, month: int) -> tuple[int, ...]:
    """The days of ``year``-``month`` on which ``expr`` fires, in order (its year/month not checked)."""
    last = calendar.monthrange(year, month)[1]
    if expr.days is None:
        assert expr.weekdays is not None  # parse() enforces '?' in exactly one of the two
        return tuple(d for d in range(1, last + 1) if _weekday_matches(expr, date(year, month, d), last))
    if expr.last_day is not None:
        target = last - expr.last_day
    elif expr.nearest_weekday:
        target = min(expr.days)  # one day: parse() refuses W in a list
    else:
        return tuple(d for d in sorted(expr.days) if d <= last)
    if target < 1 or target > last:
        return ()  # L-30 in February, 31W in April: no day this month (as Quartz)
    if expr.nearest_weekday:
        target = _nearest_weekday(date(year, month, target), last)
    return (target,)


def _nearest_weekday(d: date, last: int) -> int:
    """Quartz's W: Saturday → Friday, Sunday → Monday, never leaving the month."""
    wd = quartz_weekday(d)
    if wd == _SAT:
        return d.day + 2 if d.day == 1 else d.day - 1
    if wd == _SUN:
        return d.day - 2 if d.day == last else d.day + 1
    return d.day


def _weekday_matches(expr: CronExpr, d: date, last: int) -> bool:
    assert expr.weekdays is not None
    if quartz_weekday(d) not in expr.weekdays:
        return False
    if expr.last_weekday:
        return d.day + 7 > last
    if expr.nth_weekday:
        return (d.day - 1) // 7 + 1 == expr.nth_weekday
    return True


def _months(expr: CronExpr, start: date, *, forward: bool) -> Iterator[tuple[int, int]]:
    """Candidate (year, month) pairs from ``start``'s month onward (or backward), in order, lazily."""
    ahead = (y for y in expr.years if (y >= start.year if forward else y <= start.year))
    years = sorted(ahead, reverse=not forward)
    months = sorted(expr.months, reverse=not forward)
    for y in years:
        for m in months:
            if y == start.year and (m < start.month if forward else m > start.month):
                continue
            yield y, m


def _first_time(expr: CronExpr, at: time | None) -> time | None:
    """The earliest firing time of day at or after ``at`` (None: the day's first)."""
    hs, ms, ss = expr.hours, expr.minutes, expr.seconds
    if at is None:
        return time(hs[0], ms[0], ss[0])
    for h in hs[bisect_left(hs, at.hour) :]:
        for m in ms[bisect_left(ms, at.minute) :] if h == at.hour else ms[:1]:
            if h == at.hour and m == at.minute:
                i = bisect_left(ss, at.second)
                if i < len(ss):
                    return time(h, m, ss[i])
                continue
            return time(h, m, ss[0])
    return None


def _last_time(expr: CronExpr, at: time | None) -> time | None:
    """The latest firing time of day at or before ``at`` (None: the day's last)."""
    hs, ms, ss = expr.hours, expr.minutes, expr.seconds
    if at is None:
        return time(hs[-1], ms[-1], ss[-1])
    for h in reversed(hs[: bisect_right(hs, at.hour)]):
        for m in reversed(ms[: bisect_right(ms, at.minute)] if h == at.hour else ms[-1:]):
            if h == at.hour and m == at.minute:
                i = bisect_right(ss, at.second)
                if i > 0:
                    return time(h, m, ss[i - 1])
                continue
            return time(h, m, ss[-1])
    return None


def next_wall(expr: CronExpr, start: datetime) -> datetime | None:
    """The first wall time at or after ``start`` (whole seconds) that ``expr`` matches; None past 2099."""
    if start.microsecond:
        start = start.replace(microsecond=0) + timedelta(seconds=1)
    if start.year > MAX_YEAR:
        return None
    for y, m in _months(expr, start.date(), forward=True):
        same_month = (y, m) == (start.year, start.month)
        for d in month_days(expr, y, m):
            if same_month and d < start.day:
                continue
            at = start.time() if same_month and d == start.day else None
            t = _first_time(expr, at)
            if t is not None:
                return datetime.combine(date(y, m, d), t)
    return None


def prev_wall(expr: CronExpr, end: datetime) -> datetime | None:
    """The last wall time at or before ``end`` that ``expr`` matches; None before 1970."""
    end = end.replace(microsecond=0)
    for y, m in _months(expr, end.date(), forward=False):
        same_month = (y, m) == (end.year, end.month)
        for d in reversed(month_days(expr, y, m)):
            if same_month and d > end.day:
                continue
            at = end.time() if same_month and d == end.day else None
            t = _last_time(expr, at)
            if t is not None:
                return datetime.combine(date(y, m, d), t)
    return None


def _rank(expr: CronExpr, at: time) -> int:
    """How many firing times of day are at or before ``at``."""
    hs, ms, ss = expr.hours, expr.minutes, expr.seconds
    n = bisect_left(hs, at.hour) * len(ms) * len(ss)
    if at.hour in hs:
        n += bisect_left(ms, at.minute) * len(ss)
        if at.minute in ms:
            n += bisect_right(ss, at.second)
    return n


def count_walls(expr: CronExpr, lo: datetime, hi: datetime) -> int:
    """How many wall times in ``[lo, hi]`` (whole seconds) ``expr`` matches: O(days), not O(seconds)."""
    lo = lo if not lo.microsecond else lo.replace(microsecond=0) + timedelta(seconds=1)
    hi = hi.replace(microsecond=0)
    if hi < lo:
        return 0
    per_day = len(expr.hours) * len(expr.minutes) * len(expr.seconds)
    total = 0
    for y, m in _months(expr, lo.date(), forward=True):
        if (y, m) > (hi.year, hi.month):
            break
        for d in month_days(expr, y, m):
            day = date(y, m, d)
            if day < lo.date():
                continue
            if day > hi.date():
                break
            top = _rank(expr, hi.time()) if day == hi.date() else per_day
            partial = day == lo.date() and lo.time() != time(0)
            bottom = _rank(expr, (lo - timedelta(seconds=1)).time()) if partial else 0
            total += top - bottom
    return total
