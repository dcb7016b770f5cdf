"""``{{job.trigger.type}}`` and ``{{job.trigger.time.*}}`` resolve as in Databricks; runs carry a trigger."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lambda_resolver.core.ids import scheduled_run_id
from lambda_resolver.core.models import Run, RunState, RunTrigger, TriggerType, from_doc, to_doc
from lambda_resolver.core.references import TIME_ARGUMENTS, UnsupportedReference, parse_reference
from lambda_resolver.core.schedule import FlowSchedule, due_slot
from lambda_resolver.core.substitution import ReferenceResolver
from lambda_resolver.stores.sqlite import SqliteStore

from support.flows import flow, job_task
from support.harness import Harness


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def resolve(template: str, trigger: RunTrigger, created_at: str, store: SqliteStore) -> str:
    run = Run("r", "nightly", 1, RunState.RUNNING, ms(created_at), trigger=trigger)
    return ReferenceResolver(store, run, flow("nightly", [job_task("a")])).substitute(template)


ALL = " ".join(f"{{{{job.trigger.time.{a}}}}}" for a in TIME_ARGUMENTS)


def test_a_scheduled_run_sees_its_slot_rounded_down_to_the_minute(h: Harness) -> None:
    assert isinstance(h.store, SqliteStore)
    slot = RunTrigger(TriggerType.SCHEDULE, ms("2026-12-07T02:00:30Z"), skipped=3)  # a seconds-field slot
    text = resolve("{{job.trigger.type}} " + ALL, slot, "2026-12-07T02:00:41.250Z", h.store)
    # iso_date iso_datetime iso_weekday is_weekday year month day hour minute second timestamp_ms
    assert text == "periodic 2026-12-07 2026-12-07T02:00:00 1 true 2026 12 7 2 0 0 " + str(
        ms("2026-12-07T02:00Z")
    )


def test_a_periodic_run_sees_its_exact_slot(h: Harness) -> None:
    assert isinstance(h.store, SqliteStore)
    slot = RunTrigger(TriggerType.PERIODIC, ms("2026-12-05T23:17:42Z"))
    template = "{{job.trigger.type}} {{job.trigger.time.iso_datetime}} {{job.trigger.time.[is_weekday]}}"
    text = resolve(template, slot, "2026-12-05T23:18:00Z", h.store)
    assert text == "periodic 2026-12-05T23:17:42 false"  # a Saturday


def test_a_manual_run_sees_its_start(h: Harness) -> None:
    assert isinstance(h.store, SqliteStore)
    text = resolve("{{job.trigger.type}} {{job.trigger.time.iso_datetime}} {{job.trigger.time.iso_weekday}}",
                   RunTrigger(), "2026-12-06T09:30:15.500Z", h.store)  # fmt: skip
    assert text == "onetime 2026-12-06T09:30:15 7"  # ISO weekday: Sunday is 7


def test_trigger_references_reach_the_child_job_of_a_started_run(h: Harness) -> None:
    h.publish(flow("nightly", [job_task("a", params={"day": "{{job.trigger.time.iso_date}}",
                                                     "why": "{{ job.trigger.type }}"})]))  # fmt: skip
    h.clock.t = ms("2026-12-07T10:00:00Z")
    run = h.start("nightly")
    assert run.trigger == RunTrigger()  # manual unless a schedule started it
    (started,) = h.launcher.runs.values()
    assert (started.request.parameters["day"], started.request.parameters["why"]) == ("2026-12-07", "onetime")


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("{{job.trigger.time.iso_dat}}", "unknown time argument 'iso_dat'; use one of iso_date"),
        ("{{job.trigger.time}}", "{{job.trigger.time.<argument>}}"),
        ("{{job.trigger.file_arrival.location}}", "not by file arrival"),
        ("{{job.start_time.iso_date}}", "{{job.trigger.time.<argument>}}"),
    ],
)
def test_unknown_trigger_references_say_what_is_offered(raw: str, says: str) -> None:
    with pytest.raises(UnsupportedReference) as err:
        parse_reference(raw)
    assert says in str(err.value)


def test_known_trigger_references_parse() -> None:
    assert parse_reference("{{job.trigger.type}}").kind == "trigger_type"
    ref = parse_reference("{{job.trigger.time.[timestamp_ms]}}")
    assert (ref.kind, ref.name) == ("trigger_time", "timestamp_ms")


def test_the_trigger_round_trips_through_the_record_document_and_old_documents_read_as_manual() -> None:
    run = Run("nightly:2026-12-07T02:00:00Z", "nightly", 3, RunState.PENDING, ms("2026-12-07T02:00:04Z"),
              trigger=RunTrigger(TriggerType.SCHEDULE, ms("2026-12-07T02:00:00Z"), skipped=2))  # fmt: skip
    doc = to_doc(run)
    assert doc["trigger"] == {"type": "schedule", "slot": ms("2026-12-07T02:00:00Z"), "skipped": 2}
    assert from_doc(Run, doc) == run
    del doc["trigger"]
    assert from_doc(Run, doc).trigger == RunTrigger(TriggerType.MANUAL, None, 0)


def test_a_scheduled_nightly_passes_its_slot_date_on(h: Harness) -> None:
    assert isinstance(h.store, SqliteStore)
    nightly = FlowSchedule("schedule", "0 0 2 * * ?", "Europe/Berlin")
    last = datetime(2026, 12, 1, 1, tzinfo=timezone.utc)  # the 1st's slot fired
    due = due_slot(nightly.slots(), last, datetime(2026, 12, 7, 9, tzinfo=timezone.utc))
    assert due is not None
    trigger = nightly.run_trigger(due)
    assert trigger.to_document() == {"type": "schedule", "slot": "2026-12-07T01:00:00.000Z", "skipped": 5}
    assert scheduled_run_id("nightly", due.slot) == "nightly:2026-12-07T01:00:00Z"
    # 02:00 in Berlin is 01:00 UTC: the date passed on is the slot's UTC date, as in Databricks
    assert resolve("{{job.trigger.time.iso_date}}", trigger, "2026-12-07T09:00:00Z", h.store) == "2026-12-07"
    periodic = FlowSchedule("periodic", interval=1, unit="DAYS")
    assert periodic.run_trigger(due).type is TriggerType.PERIODIC
    with pytest.raises(ValueError, match="anchored"):
        periodic.slots()
