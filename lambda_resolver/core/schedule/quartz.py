"""Quartz cron expressions — Databricks' ``quartz_cron_expression`` — parsed as Quartz 2.3 does.

Seven fields: seconds, minutes, hours, day-of-month, month, day-of-week, and an optional year.
``?`` goes in exactly one of day-of-month and day-of-week. Day-of-week counts as Quartz does:
1 = SUN … 7 = SAT (not Unix cron's 0 = Sunday, not ISO's 1 = Monday). Besides ``*``, ``/``, ranges
(which may wrap: ``FRI-MON``, ``22-2``) and lists, day-of-month takes ``L``, ``L-3``, ``LW`` and
``15W``; day-of-week takes ``L`` (= 7), ``6L`` (the last Friday) and ``6#3`` (the third Friday).
Names (JAN-DEC, SUN-SAT) are case-insensitive.

Hand-written, because no maintained Python cron library has Quartz's semantics (croniter counts
weekdays from 0 = Sunday and has no ``W``/``#`` in Quartz's sense). Quartz accepts a few forms
that do not mean what they say (``MON-FRI/2`` ignores the ``/2``, ``1W,15`` ignores the 15,
``MONDAY`` reads as ``MON``); they are refused here with the fix, instead of silently differing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FIELDS = ("seconds", "minutes", "hours", "day-of-month", "month", "day-of-week", "year")
SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR = range(7)
BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2099))
MAX_YEAR = BOUNDS[YEAR][1]
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # Quartz: SUN = 1 … SAT = 7
_NAMES = {MONTH: MONTH_NAMES, DAY_OF_WEEK: DAY_NAMES}
_WRAP = {SECOND: 60, MINUTE: 60, HOUR: 24, DAY_OF_MONTH: 31, MONTH: 12, DAY_OF_WEEK: 7}

_VALUE = r"([0-9]+|[A-Z]+)"
_RANGE = re.compile(rf"{_VALUE}(?:-{_VALUE})?(?:/([0-9]+))?")
_STAR = re.compile(r"\*(?:/([0-9]+))?|/([0-9]+)")
_DOM_LAST = re.compile(r"L(?:-([0-9]+))?(W)?")
_DOM_NEAREST = re.compile(r"([0-9]+)W")
_DOW_LAST = re.compile(rf"{_VALUE}L")
_DOW_NTH = re.compile(rf"{_VALUE}#([0-9]+)")


class CronError(ValueError):
    """A ``quartz_cron_expression`` Quartz would refuse (or misread); the message names the fix."""

    def __init__(self, expression: str, reason: str, field: int | None = None, token: str = "") -> None:
        where = "" if field is None else f"field {field + 1} ({FIELDS[field]}) {token!r}: "
        super().__init__(f"quartz_cron_expression {expression!r}: {where}{reason}")
        self.expression = expression
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class CronExpr:
    """A parsed expression. ``days``/``weekdays`` is None for the field that holds ``?``.

    ``last_day`` (``L``/``L-n``) is the offset from the month's last day, or None;
    ``nearest_weekday`` is ``W`` (on ``L``/``L-n`` or on the single day in ``days``);
    ``last_weekday`` is ``nL`` and ``nth_weekday`` the k of ``n#k`` (both on the single weekday).
    """

    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int] | None
    months: frozenset[int]
    weekdays: frozenset[int] | None
    years: frozenset[int]
    last_day: int | None = None
    nearest_weekday: bool = False
    last_weekday: bool = False
    nth_weekday: int = 0


def parse(expression: str) -> CronExpr:
    """Parse ``expression`` or raise :class:`CronError` naming the field and what to write."""
    if not isinstance(expression, str):
        raise CronError(str(expression), "must be a string of 6 or 7 fields")
    parts = expression.upper().split()
    if len(parts) not in (6, 7):
        hint = (
            "; this looks like a 5-field Unix cron: Quartz starts with seconds, so prepend '0 ' and put "
            "'?' in day-of-month or day-of-week (e.g. '0 0 2 * * ?' for 02:00 every day)"
            if len(parts) == 5
            else ""
        )
        raise CronError(
            expression,
            f"has {len(parts)} fields; Quartz takes 6 or 7: seconds minutes hours day-of-month month "
            f"day-of-week [year]{hint}",
        )
    if len(parts) == 6:
        parts.append("*")
    parser = _Parser(expression)
    values = [parser.field(i, text) for i, text in enumerate(parts)]
    dom_free, dow_free = parts[DAY_OF_MONTH] == "?", parts[DAY_OF_WEEK] == "?"
    if dom_free == dow_free:
        fix = (
            "put '?' in exactly one of them"
            if dom_free
            else "put '?' in the one you do not use, e.g. '0 0 12 ? * MON' or '0 0 12 1 * ?'"
        )
        raise CronError(
            expression,
            f"day-of-month {parts[DAY_OF_MONTH]!r} and day-of-week {parts[DAY_OF_WEEK]!r}: Quartz needs "
            f"'?' in exactly one of the two; {fix}",
        )
    return CronExpr(
        text=" ".join(parts),
        seconds=tuple(sorted(values[SECOND] or ())),
        minutes=tuple(sorted(values[MINUTE] or ())),
        hours=tuple(sorted(values[HOUR] or ())),
        days=None if dom_free else frozenset(values[DAY_OF_MONTH] or ()),
        months=frozenset(values[MONTH] or ()),
        weekdays=None if dow_free else frozenset(values[DAY_OF_WEEK] or ()),
        years=frozenset(values[YEAR] or ()),
        last_day=parser.last_day,
        nearest_weekday=parser.nearest_weekday,
        last_weekday=parser.last_weekday,
        nth_weekday=parser.nth_weekday,
    )


class _Parser:
    """Parses one field at a time, collecting the day flags (``L``, ``W``, ``#``) as it goes."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.last_day: int | None = None
        self.nearest_weekday = False
        self.last_weekday = False
        self.nth_weekday = 0

    def error(self, field: int, token: str, reason: str) -> CronError:
        return CronError(self.expression, reason, field, token)

    def field(self, field: int, text: str) -> set[int] | None:
        if text == "?":
            if field not in (DAY_OF_MONTH, DAY_OF_WEEK):
                raise self.error(field, text, "'?' is allowed only in day-of-month or day-of-week")
            return None
        items = text.split(",")
        if len(items) > 1:
            for item in items:
                special = self._special(field, item)
                if special:
                    reason = f"'{special}' cannot be combined with other values in a list (as in Quartz)"
                    raise self.error(field, text, reason)
        out: set[int] = set()
        for item in items:
            if not item:
                raise self.error(field, text, "an empty list item; write values separated by single commas")
            out |= self._item(field, item)
        return out

    @staticmethod
    def _special(field: int, item: str) -> str:
        if field == DAY_OF_MONTH and ("L" in item or "W" in item):
            return "L" if "L" in item else "W"
        if field == DAY_OF_WEEK and ("#" in item or item.endswith("L")):
            return "#" if "#" in item else "L"
        return ""

    def _item(self, field: int, item: str) -> set[int]:
        if field == DAY_OF_MONTH and (m := _DOM_LAST.fullmatch(item)):
            offset = int(m.group(1) or 0)
            if offset > 30:
                raise self.error(field, item, "the offset from the last day (L-n) must be at most 30")
            self.last_day, self.nearest_weekday = offset, bool(m.group(2))
            return set()
        if field == DAY_OF_MONTH and (m := _DOM_NEAREST.fullmatch(item)):
            self.nearest_weekday = True
            return {self._value(field, m.group(1), item)}
        if field == DAY_OF_WEEK and item == "L":
            return {7}  # alone, L in day-of-week is Saturday (7), as in Quartz
        if field == DAY_OF_WEEK and (m := _DOW_LAST.fullmatch(item)):
            self.last_weekday = True
            return {self._value(field, m.group(1), item)}
        if field == DAY_OF_WEEK and (m := _DOW_NTH.fullmatch(item)):
            nth = int(m.group(2))
            if not 1 <= nth <= 5:
                reason = "the number after '#' must be between 1 and 5 (6#3: the third Friday)"
                raise self.error(field, item, reason)
            self.nth_weekday = nth
            return {self._value(field, m.group(1), item)}
        if m := _STAR.fullmatch(item):
            step = m.group(1) or m.group(2)
            return self._span(field, item, *BOUNDS[field], self._step(field, step, item), wrap=False)
        if m := _RANGE.fullmatch(item):
            start = self._value(field, m.group(1), item)
            if m.group(3) and not m.group(1)[0].isdigit():
                raise self.error(
                    field,
                    item,
                    "Quartz ignores an increment after a name; write the increment with numbers "
                    "(e.g. 2-6/2 in day-of-week, 1-12/3 in month)",
                )
            if m.group(2) is None:
                end = BOUNDS[field][1] if m.group(3) else start
            else:
                end = self._value(field, m.group(2), item)
            if field == YEAR and end < start:
                raise self.error(field, item, "a year range must not end before it starts")
            return self._span(field, item, start, end, self._step(field, m.group(3), item), wrap=True)
        raise self.error(field, item, self._syntax_hint(field))

    def _value(self, field: int, text: str, item: str) -> int:
        names = _NAMES.get(field)
        if not text.isascii() or not text.isdigit():
            if names is None:
                raise self.error(field, item, f"{text!r} is not a number; {FIELDS[field]} takes numbers only")
            if text not in names:
                shown = ", ".join(names)
                numbering = " (or 1-7, 1 = SUN)" if field == DAY_OF_WEEK else " (or 1-12)"
                raise self.error(field, item, f"{text!r} is not a name Quartz knows: use {shown}{numbering}")
            return names.index(text) + 1
        value = int(text)
        lo, hi = BOUNDS[field]
        if not lo <= value <= hi:
            extra = " (1 = SUN … 7 = SAT, as Quartz counts)" if field == DAY_OF_WEEK else ""
            raise self.error(field, item, f"{FIELDS[field]} values must be between {lo} and {hi}{extra}")
        return value

    def _step(self, field: int, text: str | None, item: str) -> int:
        if text is None:
            return 1
        step = int(text)
        limit = None if field == YEAR else BOUNDS[field][1]
        if step < 1 or (limit is not None and step > limit):
            most = f" and at most {limit}" if limit is not None else ""
            raise self.error(field, item, f"an increment after '/' must be at least 1{most}")
        return step

    @staticmethod
    def _span(field: int, item: str, start: int, end: int, step: int, *, wrap: bool) -> set[int]:
        """``start``..``end`` by ``step``; an end before the start wraps around (Quartz's addToSet)."""
        size = _WRAP.get(field)
        if not wrap or end >= start or size is None:
            return set(range(start, end + 1, step))
        out: set[int] = set()
        for i in range(start, end + size + 1, step):
            v = i % size
            out.add(size if v == 0 and field in (DAY_OF_MONTH, MONTH, DAY_OF_WEEK) else v)
        return out

    @staticmethod
    def _syntax_hint(field: int) -> str:
        forms = "a number, a range a-b, an increment a/n or */n, or a list a,b"
        if field in _NAMES:
            forms += " (names allowed)"
        if field == DAY_OF_MONTH:
            forms += ", or L, L-3, LW, 15W"
        if field == DAY_OF_WEEK:
            forms += ", or 6L (last Friday), 6#3 (third Friday)"
        return f"cannot be read; {FIELDS[field]} takes *, {forms}"
