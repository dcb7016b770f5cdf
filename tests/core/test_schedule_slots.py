"""Schedule slots in real time zones, periodic slots, missed slots and scheduled run ids."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_resolver.core.ids import MAX_RUN_ID, check_id
from lambda_resolver.core.schedule import (
    CronSlots,
    DueSlot,
    PeriodicSlots,
    ZoneError,
    due_slot,
    next_periodic,
    next_slot,
    parse,
    scheduled_run_id,
)
from lambda_resolver.core.schedule.walltime import next_wall

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def z(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def walk(expression: str, zone: str, start: str, n: int) -> list[str | None]:
    slots, t, out = CronSlots.of(expression, zone), at(start), []
    for _ in range(n):
        nxt = slots.next_after(t)
        out.append(z(nxt))
        assert nxt is not None
        t = nxt
    return out


# -- daylight saving: a slot in a gap does not fire; one in an overlap fires once (the second time) --
DST = [
    # New York springs forward 2026-03-08 02:00 → 03:00: 02:30 does not exist that day
    ("0 30 2 * * ?", "America/New_York", "2026-03-07T00:00:00Z",
     ["2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z"]),
    # ... every half hour: 01:30 EST, then 03:00 EDT
    ("0 */30 * * * ?", "America/New_York", "2026-03-08T06:00:00Z",
     ["2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"]),
    # New York falls back 2026-11-01 02:00 → 01:00: 01:30 happens twice and fires once, at 01:30 EST
    ("0 30 1 * * ?", "America/New_York", "2026-10-31T00:00:00Z",
     ["2026-10-31T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"]),
    # hourly across the fall-back: 00:00 EDT, then 01:00 EST (not 01:00 EDT), 02:00 EST
    ("0 0 * * * ?", "America/New_York", "2026-11-01T03:00:00Z",
     ["2026-11-01T04:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]),
    # Berlin springs forward 2026-03-29 02:00 → 03:00 and falls back 2026-10-25 03:00 → 02:00
    ("0 30 2 * * ?", "Europe/Berlin", "2026-03-28T00:00:00Z",
     ["2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z"]),
    ("0 30 2 * * ?", "Europe/Berlin", "2026-10-24T00:00:00Z",
     ["2026-10-24T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"]),
    ("0 0 * * * ?", "Europe/Berlin", "2026-10-24T23:00:00Z",
     ["2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"]),
    # Santiago springs forward at midnight (2026-09-06 00:00 → 01:00): that midnight does not exist
    ("0 0 0 * * ?", "America/Santiago", "2026-09-05T00:00:00Z",
     ["2026-09-05T04:00:00Z", "2026-09-07T03:00:00Z"]),
    # a nightly job in UTC, Databricks' default zone, never moves
    ("0 0 2 * * ?", "UTC", "2026-03-28T00:00:00Z",
     ["2026-03-28T02:00:00Z", "2026-03-29T02:00:00Z", "2026-03-30T02:00:00Z"]),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "zone", "start", "expected"), DST)
def test_daylight_saving_skips_gaps_and_fires_overlaps_once(
    expression: str, zone: str, start: str, expected: list[str]
) -> None:
    assert walk(expression, zone, start, len(expected)) == expected


def test_from_the_first_pass_of_a_repeated_hour_its_slots_are_still_ahead() -> None:
    # 05:10Z is 01:10 EDT; the repeated hour's slots fire at their EST occurrence, 06:00Z onward.
    # (Quartz, asked from here, would skip 01:00 EST; lakehook keeps one strictly increasing sequence.)
    slots = CronSlots.of("0 */30 * * * ?", "America/New_York")
    assert z(slots.next_after(at("2026-11-01T05:10:00Z"))) == "2026-11-01T06:00:00Z"
    assert z(slots.latest_at_or_before(at("2026-11-01T05:10:00Z"))) == "2026-11-01T04:30:00Z"
    assert z(slots.latest_at_or_before(at("2026-11-01T06:10:00Z"))) == "2026-11-01T06:00:00Z"


def test_latest_at_or_before_mirrors_next_after_across_a_gap() -> None:
    slots = CronSlots.of("0 30 2 * * ?", "America/New_York")
    assert z(slots.latest_at_or_before(at("2026-03-09T06:29:59Z"))) == "2026-03-07T07:30:00Z"
    assert z(slots.latest_at_or_before(at("2026-03-09T06:30:00Z"))) == "2026-03-09T06:30:00Z"


@pytest.mark.parametrize(
    ("zone", "after", "upto", "expected"),
    [
        ("America/New_York", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z", 23),  # a 23-hour day
        ("America/New_York", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z", 24),  # 25 hours, 24 slots
        ("Europe/Berlin", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 23),
        ("UTC", "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", 24),
    ],
)
def test_an_hourly_schedule_counts_the_wall_hours_that_exist(
    zone: str, after: str, upto: str, expected: int
) -> None:
    slots = CronSlots.of("0 0 * * * ?", zone)
    assert slots.count(at(after), at(upto)) == expected


@pytest.mark.parametrize(("typo", "meant"), [("Europe/Berln", "'Europe/Berlin'"), ("utc", "'UTC'")])
def test_an_unknown_zone_is_refused_with_the_closest_name(typo: str, meant: str) -> None:
    # (Java would read an unknown id as GMT without a word)
    with pytest.raises(ZoneError, match=f"did you mean {meant}"):
        next_slot("0 0 2 * * ?", typo, at("2026-01-01T00:00:00Z"))


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("GMT+8", "2026-01-01T18:00:00Z"),
        ("GMT-09:30", "2026-01-01T11:30:00Z"),
        ("GMT-0930", "2026-01-01T11:30:00Z"),
    ],
)
def test_java_custom_offsets_are_fixed_zones(zone: str, expected: str) -> None:
    assert z(next_slot("0 0 2 * * ?", zone, at("2026-01-01T00:00:00Z"))) == expected


def test_times_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot("0 0 2 * * ?", "UTC", datetime(2026, 1, 1))


def test_an_expression_that_stops_firing_has_no_next_slot() -> None:
    assert next_slot("0 0 12 * * ? 2026", "UTC", at("2026-12-31T12:00:00Z")) is None
    assert next_slot("0 0 12 * * ? 2026", "UTC", at("2026-12-31T11:00:00Z")) == at("2026-12-31T12:00:00Z")


# -- properties ------------------------------------------------------------------------------------
EXPRESSIONS = [
    "0 0 2 * * ?", "0 */15 * * * ?", "*/7 * * * * ?", "0 30 1,2,3 * * ?", "0 0 0 ? * MON-FRI",
    "15 45 23 L * ?", "0 0 12 ? * 6#3", "0 59 1 * * ?", "0 0 0/5 ? * SUN", "30 30 2 1W * ?",
]  # fmt: skip
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
]
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2029, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def matches(expression: str, zone: str, slot: datetime) -> bool:
    """Whether ``slot``'s wall time in ``zone`` matches the expression's plain fields (an independent
    check: weekday from the calendar, the day-of-month specials from their definitions)."""
    expr, wall = parse(expression), slot.astimezone(ZoneInfo(zone))
    if (wall.second, wall.minute, wall.hour) not in {
        (s, m, h) for s in expr.seconds for m in expr.minutes for h in expr.hours
    } or wall.month not in expr.months:
        return False
    last = (date(wall.year + wall.month // 12, wall.month % 12 + 1, 1) - timedelta(days=1)).day
    if expr.weekdays is not None:
        sunday_first = wall.isoweekday() % 7 + 1
        nth_ok = not expr.nth_weekday or (wall.day - 1) // 7 + 1 == expr.nth_weekday
        last_ok = not expr.last_weekday or wall.day + 7 > last
        return sunday_first in expr.weekdays and nth_ok and last_ok
    assert expr.days is not None
    if expr.last_day is not None or expr.nearest_weekday:
        target = last - expr.last_day if expr.last_day is not None else min(expr.days)
        if not expr.nearest_weekday:
            return wall.day == target
        return wall.isoweekday() <= 5 and abs(wall.day - target) <= 2
    return wall.day in expr.days


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(EXPRESSIONS), st.sampled_from(ZONES), instants)
def test_next_slot_is_strictly_after_matches_and_skips_nothing(
    expression: str, zone: str, after: datetime
) -> None:
    slots = CronSlots.of(expression, zone)
    slot = slots.next_after(after)
    assert slot is not None and slot > after
    assert slot.microsecond == 0 and matches(expression, zone, slot)
    assert slots.count(after, slot) == 1  # nothing between `after` and it
    following = slots.next_after(slot)
    assert following is not None and following > slot
    latest = slots.latest_at_or_before(slot)
    assert latest == slot  # the two directions agree


def quartz_expression() -> st.SearchStrategy[str]:
    """Random expressions mixing every feature: L, W, #, names, wrapping ranges, increments."""
    seconds = st.sampled_from(["0", "*/15", "5/20", "0-10/5", "7,33", "59"])
    minutes = st.sampled_from(["0", "30", "*/10", "5/25", "0-5", "58-2"])
    hours = st.sampled_from(["*", "2", "1-3", "22-2", "*/6", "0,12", "9-17/4"])
    months = st.sampled_from(["*", "JAN-MAR", "2", "*/3", "11-2", "FEB,AUG"])
    days = st.sampled_from(["L", "L-2", "LW", "L-3W", "15W", "1W", "31", "1/5", "5-10", "29", "25-5"])
    weekdays = st.sampled_from(["MON-FRI", "6L", "2#3", "1", "SUN", "FRI-MON", "1-7/3", "L", "7#5", "1L"])
    day_fields = st.one_of(days.map(lambda d: (d, "?")), weekdays.map(lambda w: ("?", w)))
    return st.builds(
        lambda s, m, h, dd, mo: f"{s} {m} {h} {dd[0]} {mo} {dd[1]}",
        seconds,
        minutes,
        hours,
        day_fields,
        months,
    )


@settings(max_examples=150, deadline=None)
@given(quartz_expression(), st.sampled_from(ZONES), instants)
def test_every_feature_yields_slots_that_match_in_increasing_order(
    expression: str, zone: str, after: datetime
) -> None:
    slots = CronSlots.of(expression, zone)
    slot = slots.next_after(after)
    if slot is None:  # only an expression that never fires (31 in FEB) has no next slot
        assert next_wall(parse(expression), datetime(1970, 1, 1)) is None
        return
    assert slot > after and matches(expression, zone, slot)
    following = slots.next_after(slot)
    assert following is not None and following > slot and matches(expression, zone, following)
    assert slots.count(after, following) == 2


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["0 */20 * * * ?", "0 0 * * * ?", "0 30 1,2 * * ?", "0 0 0/6 * * ?"]),
    st.sampled_from(ZONES),
    instants,
    st.integers(min_value=0, max_value=3 * 86_400),
)
def test_count_equals_the_slots_walked_one_by_one(
    expression: str, zone: str, start: datetime, span: int
) -> None:
    slots, end = CronSlots.of(expression, zone), start + timedelta(seconds=span)
    walked, t = 0, start
    while (t := slots.next_after(t)) is not None and t <= end:  # type: ignore[assignment]
        walked += 1
    assert slots.count(start, end) == walked


# -- trigger.periodic ----------------------------------------------------------------------------
def test_periodic_slots_are_anchored_at_activation_and_never_drift() -> None:
    anchor = at("2026-03-07T10:17:42.500Z")  # truncated to the second
    assert next_periodic(anchor, 6, "HOURS", anchor) == at("2026-03-07T16:17:42Z")
    # a day is 24 hours: daylight saving does not move periodic slots
    assert next_periodic(anchor, 1, "DAYS", at("2026-03-09T10:17:42Z")) == at("2026-03-10T10:17:42Z")
    assert next_periodic(anchor, 2, "WEEKS", at("2026-03-07T09:00:00Z")) == at("2026-03-07T10:17:42Z")
    assert next_periodic(anchor, 90, "MINUTES", at("2026-03-07T11:47:41Z")) == at("2026-03-07T11:47:42Z")


@pytest.mark.parametrize(("interval", "unit", "says"), [(0, "HOURS", "at least 1"), (1, "MONTHS", "HOURS")])
def test_a_bad_periodic_trigger_is_refused(interval: int, unit: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        next_periodic(at("2026-01-01T00:00:00Z"), interval, unit, at("2026-01-01T00:00:00Z"))


@settings(max_examples=100, deadline=None)
@given(instants, st.integers(1, 500), st.sampled_from(["MINUTES", "HOURS", "DAYS", "WEEKS"]), instants)
def test_next_periodic_is_the_first_anchored_slot_after(
    anchor: datetime, n: int, unit: str, after: datetime
) -> None:
    anchor = anchor.replace(microsecond=0)
    slots = PeriodicSlots.of(anchor, n, unit)
    slot = next_periodic(anchor, n, unit, after)
    assert slot > after and (slot - anchor) % slots.every == timedelta(0)
    assert slot == anchor or slot - slots.every <= after


# -- missed slots: no backfill, the latest runs once, the rest are counted -----------------------
def test_nothing_is_due_before_the_next_slot_and_the_slot_is_due_at_its_time() -> None:
    slots = CronSlots.of("0 0 2 * * ?", "Europe/Berlin")
    last = at("2026-12-06T01:00:00Z")  # 02:00 CET on the 6th fired
    assert due_slot(slots, last, at("2026-12-07T00:59:59Z")) is None
    assert due_slot(slots, last, at("2026-12-07T01:00:00Z")) == DueSlot(at("2026-12-07T01:00:00Z"), 0)


def test_after_downtime_the_latest_slot_runs_and_the_others_are_counted() -> None:
    slots = CronSlots.of("0 0 2 * * ?", "Europe/Berlin")
    due = due_slot(slots, at("2026-12-01T01:00:00Z"), at("2026-12-07T09:00:00Z"))
    assert due == DueSlot(at("2026-12-07T01:00:00Z"), 5)  # the 2nd … 6th were skipped


class CountingSlots(CronSlots):
    """Counts the instants it looks at: the work of a question, independent of the machine."""

    looked = 0

    def _instant(self, wall: datetime) -> datetime | None:
        type(self).looked += 1
        return super()._instant(wall)

    def _offset(self, t: datetime) -> timedelta:
        type(self).looked += 1
        return super()._offset(t)


def test_a_year_of_downtime_of_an_every_second_schedule_is_counted_not_walked() -> None:
    slots = CountingSlots(parse("* * * * * ?"), ZoneInfo("Europe/Berlin"))
    due = due_slot(slots, at("2025-01-01T00:00:00Z"), at("2026-01-01T00:00:05.250Z"))
    # every UTC second is a slot except the first pass of the hour repeated on 2025-10-26
    assert due == DueSlot(at("2026-01-01T00:00:05Z"), 365 * 86_400 + 5 - 3_600 - 1)
    assert CountingSlots.looked < 1_000  # ~one look a day, not one a second (31.5 million)


def test_periodic_missed_slots_are_arithmetic() -> None:
    slots = PeriodicSlots.of(at("2026-01-01T00:00:00Z"), 1, "HOURS")
    assert due_slot(slots, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:30:00Z")) == DueSlot(
        at("2027-01-01T00:00:00Z"), 365 * 24 - 1
    )
    assert due_slot(slots, at("2026-01-01T05:00:00Z"), at("2026-01-01T05:59:59Z")) is None


# -- run ids ---------------------------------------------------------------------------------------
def test_a_scheduled_run_id_is_the_flow_and_the_slot_in_utc() -> None:
    berlin = datetime(2026, 12, 7, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert scheduled_run_id("nightly", berlin) == "nightly:2026-12-07T02:00:00Z"
    assert check_id(scheduled_run_id("nightly", at("2026-12-07T02:00:00Z")), "run_id")


def test_a_long_flow_name_still_gives_a_short_unique_stable_run_id() -> None:
    slot = at("2026-12-07T02:00:00Z")
    a, b = "x" * 60 + "_a", "x" * 60 + "_b"
    ids = {scheduled_run_id(a, slot), scheduled_run_id(b, slot)}
    assert len(ids) == 2 and all(len(i) <= MAX_RUN_ID and i.endswith(":2026-12-07T02:00:00Z") for i in ids)
    assert scheduled_run_id(a, slot) == scheduled_run_id(a, slot)
    with pytest.raises(ValueError, match="timezone-aware"):
        scheduled_run_id("nightly", datetime(2026, 12, 7, 2))
