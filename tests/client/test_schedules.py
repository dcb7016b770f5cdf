"""Schedules through the real API: the switch's routes, run documents' trigger, ``lakehook
schedule``, and ``lakehook publish`` (production or not, the diff) against a served resolver."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from lambda_resolver.cli.app import app
from lambda_resolver.cli.schedule_cmds import schedule_app  # noqa: F401 - registers the commands
from lambda_resolver.client import LakehookClientError
from lambda_resolver.core.schedule import FlowSchedule
from lambda_resolver.http import Services, handle_operator_event
from lambda_resolver.publish import DeployedJob, HttpResolver, JobIds, publish_bundle

from support.flows import flow, job_task

if TYPE_CHECKING:
    from client.conftest import Stack

CRON = FlowSchedule("schedule", "0 0 2 * * ?", "Europe/Berlin")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_the_switch_over_http_pauses_and_resumes_with_the_next_fire_time(stack: Stack) -> None:
    stack.h.clock.t = ms("2026-12-07T10:00:00Z")
    answer = stack.client.publish(flow("nightly", [job_task("a")], schedule=CRON).to_dict(), production=True)
    assert answer["version"] == 1
    doc = stack.client.schedule("nightly")
    assert doc == {
        "flow": "nightly",
        "schedule": {
            "kind": "schedule",
            "quartz_cron_expression": "0 0 2 * * ?",
            "timezone_id": "Europe/Berlin",
        },
        "active": True,
        "next_at": "2026-12-08T01:00:00.000Z",  # 02:00 in Berlin
    }
    paused = stack.client.pause_schedule("nightly")
    assert (paused["active"], paused["next_at"]) == (False, None)
    assert stack.client.pause_schedule("nightly") == paused  # pausing twice is a no-op
    assert stack.client.resume_schedule("nightly")["next_at"] == "2026-12-08T01:00:00.000Z"
    assert [d["flow"] for d in stack.client.schedules()] == ["nightly"]


def test_the_switch_refuses_unknown_flows_and_flows_without_a_schedule(stack: Stack) -> None:
    stack.h.publish(flow("adhoc", [job_task("a")]))
    assert stack.client.schedule("adhoc") == {
        "flow": "adhoc",
        "schedule": None,
        "active": False,
        "next_at": None,
    }
    with pytest.raises(LakehookClientError) as none:
        stack.client.resume_schedule("adhoc")
    assert none.value.status == 400 and "trigger.periodic" in none.value.message
    with pytest.raises(LakehookClientError) as unknown:
        stack.client.pause_schedule("nope")
    assert unknown.value.status == 404


def test_a_scheduled_run_document_says_which_slot_started_it(stack: Stack) -> None:
    stack.h.clock.t = ms("2026-12-07T10:00:00Z")
    stack.h.engine.publish(flow("nightly", [job_task("a")], schedule=CRON), production=True)
    stack.client.start_run("nightly", run_id="by-hand-later")
    stack.client.cancel_run("by-hand-later")
    stack.h.clock.t = ms("2026-12-09T01:00:03Z")  # the 8th's slot missed, the 9th's due
    stack.h.engine.reconcile()
    doc = stack.client.get_run("nightly:2026-12-09T01:00:00Z")
    assert doc["trigger"] == {"type": "schedule", "slot": "2026-12-09T01:00:00.000Z", "skipped": 1}
    listed = {r["run_id"]: r["trigger"] for r in stack.client.runs_page(flow="nightly")["runs"]}
    assert listed["by-hand-later"] == {"type": "manual", "slot": None, "skipped": 0}


def test_lakehook_schedule_lists_pauses_and_resumes(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.h.clock.t = ms("2026-12-07T10:00:00Z")
    stack.h.engine.publish(flow("nightly", [job_task("a")], schedule=CRON), production=False)
    monkeypatch.setenv("LAKEHOOK_URL", stack.url)
    monkeypatch.setenv("LAKEHOOK_OPERATOR_KEY", stack.operator_key)
    cli = CliRunner()
    listed = cli.invoke(app, ["schedule", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert 'cron "0 0 2 * * ?" Europe/Berlin' in listed.output and "paused" in listed.output
    resumed = cli.invoke(app, ["schedule", "resume", "nightly"], env={"COLUMNS": "200"})
    assert resumed.exit_code == 0 and "active, next fire 2026-12-08T01:00:00.000Z" in resumed.output
    as_json = cli.invoke(app, ["schedule", "pause", "nightly", "--json"])
    assert json.loads(as_json.output)["active"] is False
    missing = cli.invoke(app, ["schedule", "resume", "nope"])
    assert missing.exit_code == 2 and "does not exist" in missing.output


BUNDLE = """\
bundle: {name: sched}
include: [bundles/*.yml]
targets:
  dev: {mode: development, default: true}
  prod: {mode: production}
"""
JOBS = """\
resources:
  jobs:
    ok:
      name: ok
      parameters: [{name: lakehook, default: ""}]
      tasks: [{task_key: main, notebook_task: {notebook_path: ./ok.py}}]
    nightly:
      name: nightly
      tags: {lakehook: flow}
      schedule: {quartz_cron_expression: "%s", timezone_id: UTC, pause_status: PAUSED}
      tasks: [{task_key: a, run_job_task: {job_id: "${resources.jobs.ok.id}"}}]
"""


def _bundle(root: Path, cron: str) -> Path:
    (root / "bundles").mkdir(parents=True, exist_ok=True)
    (root / "databricks.yml").write_text(BUNDLE)
    (root / "bundles" / "jobs.yml").write_text(JOBS % cron)
    (root / "bundles" / "ok.py").write_text("# Databricks notebook source\n")
    return root


def _ids(bundle: Any, keys: list[str]) -> JobIds:
    return JobIds("test", "fixed ids", {k: DeployedJob(k, 100 + i) for i, k in enumerate(keys)})


@pytest.mark.parametrize(("target", "active"), [("dev", False), ("prod", True)])
def test_publish_starts_a_first_schedule_active_only_on_a_production_target(
    stack: Stack, tmp_path: Path, target: str, active: bool
) -> None:
    root = _bundle(tmp_path / "b", "0 15 * * * ?")
    report = publish_bundle(root, target, job_ids=_ids, resolver=HttpResolver(stack.client))
    assert report.flows[0].changes[-1] == 'schedule: cron "0 15 * * * ?" UTC'
    assert stack.client.schedule("nightly")["active"] is active


def test_publish_shows_a_changed_schedule_and_keeps_the_switch(stack: Stack, tmp_path: Path) -> None:
    root = _bundle(tmp_path / "b", "0 15 * * * ?")
    publish_bundle(root, "prod", job_ids=_ids, resolver=HttpResolver(stack.client))
    stack.client.pause_schedule("nightly")
    _bundle(root, "0 45 * * * ?")
    report = publish_bundle(root, "prod", job_ids=_ids, resolver=HttpResolver(stack.client))
    assert report.flows[0].changes == ['schedule: cron "0 15 * * * ?" UTC → cron "0 45 * * * ?" UTC']
    doc = stack.client.schedule("nightly")
    assert doc["active"] is False and doc["schedule"]["quartz_cron_expression"] == "0 45 * * * ?"


def test_the_direct_invocation_door_publishes_and_switches_schedules(stack: Stack) -> None:
    services = Services(engine=lambda: stack.h.engine, signer=stack.h.signer)  # IAM is the door
    stack.h.clock.t = ms("2026-12-07T10:00:00Z")
    manifest = flow("nightly", [job_task("a")], schedule=CRON).to_dict()
    published = handle_operator_event(
        {"lakehook": "publish", "manifest": manifest, "production": True}, services
    )
    assert published["status"] == 201
    got = handle_operator_event({"lakehook": "get_schedule", "flow": "nightly"}, services)
    assert got == {"status": 200, "body": stack.client.schedule("nightly")} and got["body"]["active"] is True
    paused = handle_operator_event({"lakehook": "pause_schedule", "flow": "nightly"}, services)
    assert (paused["status"], paused["body"]["active"]) == (200, False)
    resumed = handle_operator_event({"lakehook": "resume_schedule", "flow": "nightly"}, services)
    assert resumed["body"]["next_at"] == "2026-12-08T01:00:00.000Z"
    listed = handle_operator_event({"lakehook": "list_schedules"}, services)
    assert [d["flow"] for d in listed["body"]["schedules"]] == ["nightly"]
