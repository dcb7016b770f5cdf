"""The schedule machine's decisions, pure: what a publish, a pause, a resume and a firing write."""

from __future__ import annotations

from datetime import datetime

from lambda_resolver.core.schedule import FlowSchedule
from lambda_resolver.core.schedule import machine as m
from lambda_resolver.publish.diff import describe_changes

CRON = FlowSchedule("schedule", "0 0 * * * ?", "UTC")  # hourly
EVERY_90_MIN = FlowSchedule("periodic", interval=90, unit="MINUTES")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


NOW = ms("2026-12-07T10:20:30.250Z")


def test_a_publish_without_a_schedule_keeps_no_record_and_an_unchanged_one_writes_nothing() -> None:
    assert m.on_publish(None, "f", None, production=True, now=NOW) is None
    first = m.on_publish(None, "f", CRON, production=True, now=NOW)
    assert first is not None
    assert m.on_publish(first, "f", CRON, production=False, now=NOW + 1) is None


def test_a_periodic_schedule_is_anchored_at_its_first_activation_to_the_second() -> None:
    paused = m.on_publish(None, "f", EVERY_90_MIN, production=False, now=NOW)
    assert paused is not None and paused.anchor is None and paused.due_at is None
    later = ms("2026-12-07T13:00:00Z")
    active = m.resumed(paused, later)
    assert active is not None and active.anchor == later and active.next_at == ms("2026-12-07T14:30:00Z")
    again = m.resumed(m.paused(active, later + 1) or active, ms("2026-12-07T18:00:00Z"))
    assert again is not None and again.anchor == later  # slots stay on 13:00 + k·90 min
    assert again.next_at == ms("2026-12-07T19:00:00Z")


def test_switching_to_where_it_is_writes_nothing() -> None:
    active = m.on_publish(None, "f", CRON, production=True, now=NOW)
    assert active is not None and m.resumed(active, NOW) is None
    paused = m.paused(active, NOW)
    assert paused is not None and m.paused(paused, NOW) is None


def test_a_due_record_fires_its_latest_slot_and_counts_the_rest() -> None:
    rec = m.on_publish(None, "f", CRON, production=True, now=NOW)
    assert rec is not None and rec.next_at == ms("2026-12-07T11:00:00Z")
    assert m.due(rec, ms("2026-12-07T10:59:59.999Z")) is None
    fire = m.due(rec, ms("2026-12-07T14:00:00.100Z"))
    assert fire == m.Fire(ms("2026-12-07T14:00:00Z"), skipped=3)
    assert m.due(rec, ms("2026-12-07T14:00:00.100Z"), next_ran=True) == m.Fire(ms("2026-12-07T14:00:00Z"), 2)
    after = m.fired(rec, fire, ms("2026-12-07T14:00:00.100Z"))
    assert (after.next_at, after.last_slot) == (ms("2026-12-07T15:00:00Z"), ms("2026-12-07T14:00:00Z"))


def test_publish_names_schedule_changes_in_its_diff() -> None:
    base = {"name": "f", "tasks": [], "jobs": []}
    cron = {**base, "schedule": CRON.to_dict()}
    periodic = {**base, "schedule": EVERY_90_MIN.to_dict()}
    assert describe_changes(None, cron) == ["0 tasks, 0 jobs", 'schedule: cron "0 0 * * * ?" UTC']
    assert describe_changes(cron, periodic) == ['schedule: cron "0 0 * * * ?" UTC → every 90 MINUTES']
    assert describe_changes(periodic, {**base, "schedule": None}) == ["schedule: every 90 MINUTES → none"]
