"""A flow job's schedule compiles into the manifest; Databricks must never fire it (PAUSED required)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.compiler import compile_bundle, load_bundle, validate_bundle
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.schedule import FlowSchedule

FLOW = """\
resources:
  jobs:
    nightly:
      tags: {{lakehook: flow}}
{settings}
      tasks:
        - task_key: run
          run_job_task: {{job_id: "${{resources.jobs.work.id}}"}}
"""


def flow_with(make_bundle: Callable[..., Path], settings: str, databricks_yml: str | None = None) -> Path:
    files = {"bundles/nightly.yml": FLOW.format(settings=settings)}
    if databricks_yml is not None:
        files["databricks.yml"] = databricks_yml
    return make_bundle(files, children=("work",))


def test_a_paused_cron_schedule_compiles_into_the_manifest(make_bundle: Callable[..., Path]) -> None:
    root = flow_with(
        make_bundle,
        """\
      schedule:
        quartz_cron_expression: "0 0 2 ? * MON-FRI"
        timezone_id: Europe/Berlin
        pause_status: PAUSED""",
    )
    manifest = compile_bundle(root, environ={})["nightly"]
    assert manifest.schedule == FlowSchedule("schedule", "0 0 2 ? * MON-FRI", "Europe/Berlin")
    again = FlowManifest.from_dict(manifest.to_dict())  # published and read back
    assert again.schedule == manifest.schedule and again == manifest


def test_a_paused_periodic_trigger_compiles_into_the_manifest(make_bundle: Callable[..., Path]) -> None:
    root = flow_with(
        make_bundle,
        """\
      trigger:
        pause_status: PAUSED
        periodic: {interval: 4, unit: HOURS}""",
    )
    manifest = compile_bundle(root, environ={})["nightly"]
    assert manifest.schedule == FlowSchedule("periodic", interval=4, unit="HOURS")
    assert FlowManifest.from_dict(manifest.to_dict()).schedule == manifest.schedule


def test_a_flow_without_schedule_has_none(make_bundle: Callable[..., Path]) -> None:
    manifest = compile_bundle(flow_with(make_bundle, ""), environ={})["nightly"]
    assert manifest.schedule is None
    assert FlowManifest.from_dict({**manifest.to_dict(), "schedule": None}).schedule is None


@pytest.mark.parametrize(
    ("settings", "needle", "says"),
    [
        (
            """\
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
        timezone_id: UTC""",
            "schedule:",
            ("has no `pause_status`", "add `pause_status: PAUSED`", "Databricks must not"),
        ),
        (
            """\
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
        timezone_id: UTC
        pause_status: UNPAUSED""",
            "pause_status",
            ("says `pause_status: UNPAUSED`", "add `pause_status: PAUSED`", "lakehook schedule pause|resume"),
        ),
        (
            """\
      trigger:
        periodic: {interval: 1, unit: DAYS}""",
            "trigger:",
            ("`trigger` has no `pause_status`", "add `pause_status: PAUSED`"),
        ),
    ],
)
def test_a_schedule_databricks_could_fire_is_refused_naming_the_fix(
    make_bundle: Callable[..., Path],
    line_of: Callable[..., int],
    settings: str,
    needle: str,
    says: tuple[str, ...],
) -> None:
    root = flow_with(make_bundle, settings)
    (problem,) = validate_bundle(root, environ={})
    assert (problem.code, problem.file, problem.job) == (
        "schedule_not_paused",
        "bundles/nightly.yml",
        "nightly",
    )
    assert problem.line == line_of(root / "bundles/nightly.yml", needle)
    for fragment in says:
        assert fragment in problem.message


MISTAKES = [
    (
        """\
      schedule:
        quartz_cron_expression: "0 0 2 * * MON"
        timezone_id: UTC
        pause_status: PAUSED""",
        "bad_schedule",
        "quartz_cron_expression",
        ("'?' in exactly one", "'0 0 12 ? * MON'"),
    ),
    (
        """\
      schedule:
        quartz_cron_expression: "0 2 * * *"
        timezone_id: UTC
        pause_status: PAUSED""",
        "bad_schedule",
        "quartz_cron_expression",
        ("has 5 fields", "prepend '0 '"),
    ),
    (
        """\
      schedule:
        quartz_cron_expression: "0 0 12 30 2 ?"
        timezone_id: UTC
        pause_status: PAUSED""",
        "bad_schedule",
        "quartz_cron_expression",
        ("never fires",),
    ),
    (
        """\
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
        timezone_id: Europe/Berln
        pause_status: PAUSED""",
        "bad_schedule",
        "timezone_id",
        ("'Europe/Berln' is not an IANA time zone", "did you mean 'Europe/Berlin'"),
    ),
    (
        """\
      trigger:
        pause_status: PAUSED
        periodic: {interval: 0, unit: HOURS}""",
        "bad_schedule",
        "periodic",
        ("interval must be a whole number of at least 1",),
    ),
    (
        """\
      trigger:
        pause_status: PAUSED
        file_arrival: {url: "/Volumes/main/raw/landing/"}""",
        "unsupported_trigger",
        "file_arrival",
        ("trigger `file_arrival`", "not by file arrival"),
    ),
    (
        """\
      trigger:
        pause_status: PAUSED
        table_update: {table_names: [main.raw.orders]}""",
        "unsupported_trigger",
        "table_update",
        ("trigger `table_update`", "not by table update"),
    ),
    (
        """\
      continuous:
        pause_status: PAUSED""",
        "unsupported_trigger",
        "continuous",
        ("cannot run continuously", "trigger.periodic"),
    ),
    (
        """\
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
        timezone_id: UTC
        pause_status: PAUSED
      trigger:
        pause_status: PAUSED
        periodic: {interval: 1, unit: DAYS}""",
        "two_schedules",
        "trigger:",
        ("both `schedule` and `trigger`",),
    ),
]


@pytest.mark.parametrize(("settings", "expected"), [(m[0], m[1:]) for m in MISTAKES])
def test_schedule_mistakes_are_located_and_say_what_to_fix(
    make_bundle: Callable[..., Path], line_of: Callable[..., int], settings: str, expected: tuple[Any, ...]
) -> None:
    code, needle, says = expected
    root = flow_with(make_bundle, settings)
    problems = [p for p in validate_bundle(root, environ={}) if p.code != "invalid_job"]
    assert [p.code for p in problems] == [code], problems
    (problem,) = problems
    assert (problem.file, problem.job) == ("bundles/nightly.yml", "nightly")
    assert problem.line == line_of(root / "bundles/nightly.yml", needle)
    for fragment in says:
        assert fragment in problem.message


def test_a_missing_timezone_is_reported_once_by_the_schema_check(make_bundle: Callable[..., Path]) -> None:
    root = flow_with(
        make_bundle,
        """\
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
        pause_status: PAUSED""",
    )
    problems = validate_bundle(root, environ={})
    assert [p.code for p in problems] == ["invalid_job"] and "timezone_id" in problems[0].message


TARGETS = """\
bundle: {name: t}
include: [bundles/*.yml]
targets:
  dev: {default: true, mode: development}
  prod: {mode: production}
  staging: {}
"""


@pytest.mark.parametrize(
    ("target", "production"), [(None, False), ("dev", False), ("staging", False), ("prod", True)]
)
def test_the_loaded_bundle_says_whether_its_target_is_production(
    make_bundle: Callable[..., Path], target: str | None, production: bool
) -> None:
    root = flow_with(make_bundle, "", TARGETS)
    assert load_bundle(root, target, environ={}).production is production


def test_a_pause_status_databricks_does_not_know_is_reported_once_by_the_schema_check(
    make_bundle: Callable[..., Path],
) -> None:
    root = flow_with(
        make_bundle,
        """\
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
        timezone_id: UTC
        pause_status: paused""",
    )
    problems = validate_bundle(root, environ={})
    assert [p.code for p in problems] == ["invalid_job"] and "not a valid pause_status" in problems[0].message
