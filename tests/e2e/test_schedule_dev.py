"""A 10-second schedule through ``lakehook dev`` as a real process: paused in development until
``lakehook schedule resume``, then each slot runs once as ``<flow>:<slot>`` with its trigger —
and a SIGKILL and a restart neither repeat a slot nor stop the schedule."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

from support.e2e import E2E_BUNDLE, Dev, free_port

TICKER = """\
resources:
  jobs:
    ticker:
      name: ticker
      tags: {lakehook: flow}
      schedule:
        quartz_cron_expression: "0/10 * * * * ?"
        timezone_id: UTC
        pause_status: PAUSED
      tasks:
        - task_key: tick
          run_job_task:
            job_id: "${resources.jobs.ok.id}"
            job_parameters: {label: "{{job.trigger.type}} {{job.trigger.time.iso_datetime}}"}
"""
SLOT_RUN = re.compile(r"ticker:\d{4}-\d\d-\d\dT\d\d:\d\d:([0-5]\d)Z")


def _finished_slots(dev: Dev, timeout_s: float, more_than: int = 0) -> list[dict[str, Any]]:
    """The ticker's scheduled runs once more than ``more_than`` of them ended SUCCESS."""
    deadline = time.monotonic() + timeout_s
    while True:
        runs = dev.client.runs_page(flow="ticker", limit=100)["runs"]
        done = [r for r in runs if r["state"] == "SUCCESS"]
        if len(done) > more_than:
            return runs
        assert time.monotonic() < deadline, (
            f"no scheduled run finished: {runs}\n{dev.log.read_text()[-3000:]}"
        )
        time.sleep(0.3)


def test_a_ten_second_schedule_fires_once_per_slot_after_resume_and_across_a_kill(
    dev_factory: Any, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(E2E_BUNDLE, bundle)
    (bundle / "bundles" / "ticker.yml").write_text(TICKER)
    port = free_port()
    first: Dev = dev_factory(bundle=bundle, port=port)

    paused = first.client.schedule("ticker")  # lakehook dev is not a production target
    assert paused["active"] is False and paused["next_at"] is None
    assert paused["schedule"]["quartz_cron_expression"] == "0/10 * * * * ?"
    resumed = first.cli("schedule", "resume", "ticker")
    assert resumed.returncode == 0 and "active" in resumed.stdout, resumed.stdout + resumed.stderr

    runs = _finished_slots(first, 40)
    run = next(r for r in runs if r["state"] == "SUCCESS")
    slot = SLOT_RUN.fullmatch(run["run_id"])
    assert slot is not None and int(slot.group(1)) % 10 == 0, run["run_id"]
    assert run["trigger"]["type"] == "schedule" and run["trigger"]["slot"].startswith(run["run_id"][7:-1])
    doc = first.client.get_run(run["run_id"])
    # the slot passed on, rounded down to its minute as Databricks does for a cron schedule
    assert doc["tasks"][0]["value"]["label"] == f"periodic {run['run_id'][7:-4]}:00"

    assert f"{run['run_id']} started by its schedule" in first.log.read_text()  # what the terminal shows
    first.kill()
    before = {r["run_id"] for r in runs}
    second: Dev = dev_factory(bundle=bundle, port=port)  # same state directory: the switch is kept
    assert second.client.schedule("ticker")["active"] is True
    after = _finished_slots(second, 40, more_than=len([r for r in runs if r["state"] == "SUCCESS"]))
    ids = [r["run_id"] for r in after]
    assert len(ids) == len(set(ids)) and before <= set(ids)  # one run per slot, none lost
    assert all(SLOT_RUN.fullmatch(i) for i in ids), ids
    listed = second.cli("schedule", "list")
    assert listed.returncode == 0 and "ticker" in listed.stdout and "active" in listed.stdout, listed.stdout
