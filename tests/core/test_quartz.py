"""Quartz cron expressions: Quartz's own documented examples, day-of-week numbering, L/W/#, errors.

The expected fire times are what Quartz 2.3.2's ``CronExpression.getNextValidTimeAfter`` answers
(tests/core/test_quartz_oracle.py asks the real library when it is installed).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lambda_resolver.core.schedule import CronError, next_slot, parse

UTC = timezone.utc


def fires(expression: str, start: str, n: int) -> list[str]:
    """The next ``n`` fire times of ``expression`` in UTC after ``start``, as ``...Z`` strings."""
    out: list[str] = []
    t: datetime | None = datetime.fromisoformat(start.replace("Z", "+00:00"))
    for _ in range(n):
        assert t is not None
        t = next_slot(expression, "UTC", t)
        out.append("NONE" if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if t is None:
            break
    return out


# The examples of the Quartz CronTrigger tutorial and CronTrigger javadoc, with what they fire.
QUARTZ_EXAMPLES = [
    # fire at 12pm (noon) every day
    ("0 0 12 * * ?", "2026-01-01T00:00:00Z", ["2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z"]),
    # 10:15am every day, four ways
    ("0 15 10 ? * *", "2026-01-01T00:00:00Z", ["2026-01-01T10:15:00Z", "2026-01-02T10:15:00Z"]),
    ("0 15 10 * * ?", "2026-01-01T00:00:00Z", ["2026-01-01T10:15:00Z", "2026-01-02T10:15:00Z"]),
    ("0 15 10 * * ? *", "2026-01-01T00:00:00Z", ["2026-01-01T10:15:00Z", "2026-01-02T10:15:00Z"]),
    # 10:15am every day during the year 2005
    ("0 15 10 * * ? 2005", "2004-12-30T00:00:00Z", ["2005-01-01T10:15:00Z", "2005-01-02T10:15:00Z"]),
    ("0 15 10 * * ? 2005", "2005-12-31T11:00:00Z", ["NONE"]),
    # every minute starting at 2pm and ending at 2:59pm, every day
    ("0 * 14 * * ?", "2026-01-01T14:58:00Z", ["2026-01-01T14:59:00Z", "2026-01-02T14:00:00Z"]),
    # every 5 minutes starting at 2pm and ending at 2:55pm, every day
    ("0 0/5 14 * * ?", "2026-01-01T14:50:00Z", ["2026-01-01T14:55:00Z", "2026-01-02T14:00:00Z"]),
    # ... and every 5 minutes from 6pm to 6:55pm
    (
        "0 0/5 14,18 * * ?",
        "2026-01-01T14:54:00Z",
        ["2026-01-01T14:55:00Z", "2026-01-01T18:00:00Z", "2026-01-01T18:05:00Z"],
    ),
    # every minute starting at 2pm and ending at 2:05pm, every day
    ("0 0-5 14 * * ?", "2026-01-01T14:04:00Z", ["2026-01-01T14:05:00Z", "2026-01-02T14:00:00Z"]),
    # 2:10pm and 2:44pm every Wednesday in the month of March
    (
        "0 10,44 14 ? 3 WED",
        "2026-01-01T00:00:00Z",
        ["2026-03-04T14:10:00Z", "2026-03-04T14:44:00Z", "2026-03-11T14:10:00Z"],
    ),
    # 10:15am every Monday, Tuesday, Wednesday, Thursday and Friday (2026-01-01 is a Thursday)
    (
        "0 15 10 ? * MON-FRI",
        "2026-01-01T00:00:00Z",
        ["2026-01-01T10:15:00Z", "2026-01-02T10:15:00Z", "2026-01-05T10:15:00Z"],
    ),
    # 10:15am on the 15th day of every month
    ("0 15 10 15 * ?", "2026-01-01T00:00:00Z", ["2026-01-15T10:15:00Z", "2026-02-15T10:15:00Z"]),
    # 10:15am on the last day of every month
    (
        "0 15 10 L * ?",
        "2026-01-01T00:00:00Z",
        ["2026-01-31T10:15:00Z", "2026-02-28T10:15:00Z", "2026-03-31T10:15:00Z"],
    ),
    # 10:15am on the 2nd-to-last last day of every month
    (
        "0 15 10 L-2 * ?",
        "2026-01-01T00:00:00Z",
        ["2026-01-29T10:15:00Z", "2026-02-26T10:15:00Z", "2026-03-29T10:15:00Z"],
    ),
    # 10:15am on the last Friday of every month
    (
        "0 15 10 ? * 6L",
        "2026-01-01T00:00:00Z",
        ["2026-01-30T10:15:00Z", "2026-02-27T10:15:00Z", "2026-03-27T10:15:00Z"],
    ),
    # 10:15am on every last Friday of every month during the years 2002 to 2005
    (
        "0 15 10 ? * 6L 2002-2005",
        "2005-11-01T00:00:00Z",
        ["2005-11-25T10:15:00Z", "2005-12-30T10:15:00Z", "NONE"],
    ),
    # 10:15am on the third Friday of every month
    (
        "0 15 10 ? * 6#3",
        "2026-01-01T00:00:00Z",
        ["2026-01-16T10:15:00Z", "2026-02-20T10:15:00Z", "2026-03-20T10:15:00Z"],
    ),
    # 12pm every 5 days every month, starting on the first day of the month
    (
        "0 0 12 1/5 * ?",
        "2026-01-25T00:00:00Z",
        ["2026-01-26T12:00:00Z", "2026-01-31T12:00:00Z", "2026-02-01T12:00:00Z"],
    ),
    # every November 11th at 11:11am
    ("0 11 11 11 11 ?", "2026-01-01T00:00:00Z", ["2026-11-11T11:11:00Z", "2027-11-11T11:11:00Z"]),
    # the monthly cookbook: first weekday, last weekday, third-to-last day
    (
        "0 0 5 1W * ?",  # 2026-02-01 is a Sunday → Monday 2nd; 2026-03-01 a Sunday → Monday 2nd
        "2026-01-01T00:00:00Z",
        ["2026-01-01T05:00:00Z", "2026-02-02T05:00:00Z", "2026-03-02T05:00:00Z", "2026-04-01T05:00:00Z"],
    ),
    (
        "0 0 5 LW * ?",  # 2026-01-31 is a Saturday → Friday 30th
        "2026-01-01T00:00:00Z",
        ["2026-01-30T05:00:00Z", "2026-02-27T05:00:00Z", "2026-03-31T05:00:00Z", "2026-04-30T05:00:00Z"],
    ),
    ("0 0 5 L-3 * ?", "2026-01-01T00:00:00Z", ["2026-01-28T05:00:00Z", "2026-02-25T05:00:00Z"]),
    # the javadoc's 15W: the nearest weekday to the 15th (2026-02-15 is a Sunday → Monday 16th)
    (
        "0 0 12 15W * ?",
        "2026-01-01T00:00:00Z",
        ["2026-01-15T12:00:00Z", "2026-02-16T12:00:00Z", "2026-03-16T12:00:00Z", "2026-04-15T12:00:00Z"],
    ),
]


@pytest.mark.parametrize(("expression", "start", "expected"), QUARTZ_EXAMPLES)
def test_quartz_documented_examples_fire_when_quartz_says(
    expression: str, start: str, expected: list[str]
) -> None:
    assert fires(expression, start, len(expected)) == expected


# Day-of-week counts 1 = SUN … 7 = SAT. A library that counts from 0 = Sunday (Unix cron,
# croniter) or 1 = Monday (ISO) fires these on the wrong day.
WEEKDAYS = [
    ("0 0 12 ? * 1", ["2026-01-04T12:00:00Z", "2026-01-11T12:00:00Z"]),  # Sundays
    ("0 0 12 ? * SUN", ["2026-01-04T12:00:00Z", "2026-01-11T12:00:00Z"]),
    ("0 0 12 ? * 2", ["2026-01-05T12:00:00Z", "2026-01-12T12:00:00Z"]),  # Mondays
    ("0 0 12 ? * 7", ["2026-01-03T12:00:00Z", "2026-01-10T12:00:00Z"]),  # Saturdays
    ("0 0 12 ? * L", ["2026-01-03T12:00:00Z", "2026-01-10T12:00:00Z"]),  # L alone is 7: Saturday
    ("0 0 12 ? * 1L", ["2026-01-25T12:00:00Z", "2026-02-22T12:00:00Z"]),  # last Sunday
    ("0 0 12 ? * 2#1", ["2026-01-05T12:00:00Z", "2026-02-02T12:00:00Z"]),  # first Monday
    # the fifth Monday
    ("0 0 12 ? * 2#5", ["2026-03-30T12:00:00Z", "2026-06-29T12:00:00Z", "2026-08-31T12:00:00Z"]),
    ("0 0 12 ? * FRI-MON", ["2026-01-02T12:00:00Z", "2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z",
                           "2026-01-05T12:00:00Z", "2026-01-09T12:00:00Z"]),  # a range that wraps
    # 1-7/2 is SUN,TUE,THU,SAT
    ("0 0 12 ? * 1-7/2", ["2026-01-01T12:00:00Z", "2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z"]),
    ("0 0 12 ? * mon-fri", ["2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z", "2026-01-05T12:00:00Z"]),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "expected"), WEEKDAYS)
def test_day_of_week_counts_from_sunday_as_quartz_does(expression: str, expected: list[str]) -> None:
    assert fires(expression, "2026-01-01T00:00:00Z", len(expected)) == expected


MORE = [
    ("0 0 12 29 2 ?", "2026-01-01T00:00:00Z", ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"]),
    ("0 0 22-2 * * ?", "2026-01-01T00:00:00Z", ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z",
                                               "2026-01-01T22:00:00Z"]),  # hours that wrap midnight
    ("*/20 * * * * ?", "2026-01-01T00:00:30Z", ["2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"]),
    ("0 0 0 1 1 ? 2026/3", "2026-01-01T00:00:00Z", ["2029-01-01T00:00:00Z", "2032-01-01T00:00:00Z"]),
    ("0 0 0 ? 1/4 *", "2026-01-01T00:00:01Z", ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
    ("0 0 12 31 * ?", "2026-01-31T13:00:00Z", ["2026-03-31T12:00:00Z", "2026-05-31T12:00:00Z"]),
    ("0 0 12 L-30 2 ?", "2026-01-01T00:00:00Z", ["NONE"]),  # February has no L-30
    ("0 0 12 30 2 ?", "2026-01-01T00:00:00Z", ["NONE"]),
    ("0 0 12 31W * ?", "2026-04-01T00:00:00Z", ["2026-05-29T12:00:00Z", "2026-07-31T12:00:00Z"]),
    ("0/5 14,18,3-39,52 * ? JAN,MAR,SEP MON-FRI 2002-2010", "2010-09-30T23:59:00Z", ["NONE"]),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "start", "expected"), MORE)
def test_edges_fire_as_quartz_does(expression: str, start: str, expected: list[str]) -> None:
    assert fires(expression, start, len(expected)) == expected


def test_parse_normalises_case_and_spacing_and_defaults_the_year() -> None:
    expr = parse("  0  15 10  ?  *   mon-fri ")
    assert expr.text == "0 15 10 ? * MON-FRI *"
    assert expr.weekdays == frozenset({2, 3, 4, 5, 6}) and expr.days is None
    assert min(expr.years) == 1970 and max(expr.years) == 2099


BAD = [
    # (expression, field named in the message or None, what the message must say)
    ("0 0 2 * *", None, "prepend '0 '"),  # a Unix cron
    ("0 0 2 * * ? 2026 x", None, "has 8 fields"),
    ("0 0 12 * * MON", None, "'?' in exactly one"),
    ("0 0 12 ? * ?", None, "'?' in exactly one"),
    (
        "* * * * ? *",
        "field 5 (month)",
        "'?' is allowed only in day-of-month or day-of-week",
    ),  # the tutorial's trap
    ("60 0 12 * * ?", "field 1 (seconds)", "between 0 and 59"),
    ("0 0 24 * * ?", "field 3 (hours)", "between 0 and 23"),
    ("0 0 12 32 * ?", "field 4 (day-of-month)", "between 1 and 31"),
    ("0 0 12 ? 13 *", "field 5 (month)", "between 1 and 12"),
    ("0 0 12 ? * 0", "field 6 (day-of-week)", "1 = SUN"),  # Unix cron's Sunday
    ("0 0 12 ? * 8", "field 6 (day-of-week)", "between 1 and 7"),
    ("0 0 12 ? * MONDAY", "field 6 (day-of-week)", "use SUN, MON"),
    ("0 0 12 ? JANUARY *", "field 5 (month)", "use JAN, FEB"),
    ("0 0 12 ? * MON-FRI/2", "field 6 (day-of-week)", "2-6/2"),  # Quartz would ignore the /2
    ("0 0 12 1W,15 * ?", "field 4 (day-of-month)", "'W' cannot be combined"),
    ("0 0 12 1,L * ?", "field 4 (day-of-month)", "'L' cannot be combined"),
    ("0 0 12 ? * 6#3,2", "field 6 (day-of-week)", "'#' cannot be combined"),
    ("0 0 12 ? * 6#6", "field 6 (day-of-week)", "between 1 and 5"),
    ("0 0 12 L-31 * ?", "field 4 (day-of-month)", "at most 30"),
    ("0 0/0 12 * * ?", "field 2 (minutes)", "at least 1"),
    ("0 0/60 12 * * ?", "field 2 (minutes)", "at most 59"),
    ("0 0 12 * * ? 1969", "field 7 (year)", "between 1970 and 2099"),
    ("0 0 12 * * ? 2030-2026", "field 7 (year)", "must not end before it starts"),
    ("0 0 12 5L * ?", "field 4 (day-of-month)", "cannot be read"),
    ("0 0 12 ? * 6W", "field 6 (day-of-week)", "cannot be read"),
    ("0 0 12 * JAN ? x", "field 7 (year)", "year takes numbers only"),
    ("0 0 1-2-3 * * ?", "field 3 (hours)", "cannot be read"),
    ("0 0 12 1,,2 * ?", "field 4 (day-of-month)", "empty list item"),
]


@pytest.mark.parametrize(("expression", "field", "says"), BAD)
def test_bad_expressions_are_refused_naming_the_field_and_the_fix(
    expression: str, field: str | None, says: str
) -> None:
    with pytest.raises(CronError) as err:
        parse(expression)
    message = str(err.value)
    assert message.startswith(f"quartz_cron_expression {expression!r}: ")
    assert says in message
    if field is not None:
        assert field in message
