"""End to end through real processes: ``lakehook dev``, notebooks as child processes, the CLI."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from support.e2e import REPO, Dev


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def tasks_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["task_key"]: t for t in doc["tasks"]}


def test_the_demo_flow_runs_a_and_b_before_c_and_c_before_d_passing_values(dev_factory: Any) -> None:
    dev: Dev = dev_factory(bundle=REPO)
    run = dev.client.start_run("nightly", params={"run_date": "2026-11-23"}, run_id="nightly-e2e")
    doc = dev.client.wait(run["run_id"], timeout_s=90, poll_s=0.2)
    assert doc["state"] == "SUCCESS", doc
    t = tasks_of(doc)
    a, b, c, d = t["extract_a"], t["extract_b"], t["combine"], t["report"]
    assert _t(c["triggered_at"]) >= max(_t(a["settled_at"]), _t(b["settled_at"]))
    assert _t(d["triggered_at"]) >= _t(c["settled_at"])
    assert c["value"]["rows"] == a["value"]["rows"] + b["value"]["rows"] == 17
    assert d["value"]["rows"] == 17
    assert all(x["attempt"] == 1 and x["databricks_run_id"] for x in (a, b, c, d))


def test_a_failing_task_propagates_by_run_if(dev: Dev) -> None:
    run = dev.client.start_run("fails")
    doc = dev.client.wait(run["run_id"], timeout_s=60, poll_s=0.2)
    t = tasks_of(doc)
    assert {k: v["state"] for k, v in t.items()} == {
        "first": "SUCCESS",
        "explode": "FAILED",
        "after": "UPSTREAM_FAILED",
        "cleanup": "SUCCESS",
    }
    assert "ValueError: the input is bad" in t["explode"]["error"]["message"]
    assert doc["state"] == "FAILED"  # a leaf (after) is UPSTREAM_FAILED


def test_an_approval_waits_until_lakehook_resolve_settles_it(dev: Dev) -> None:
    import time

    run = dev.client.start_run("approval")
    deadline = time.monotonic() + 30
    while True:
        doc = dev.client.get_run(run["run_id"])
        if tasks_of(doc)["approve"]["state"] == "RUNNING":
            break
        assert time.monotonic() < deadline, doc
        time.sleep(0.2)
    time.sleep(1.0)
    assert tasks_of(dev.client.get_run(run["run_id"]))["ship"]["state"] == "WAITING"  # it waits
    promise = tasks_of(doc)["approve"]["promise_id"]
    done = dev.cli("resolve", promise, "--value", json.dumps({"by": "ana"}))
    assert done.returncode == 0, done.stderr
    final = dev.client.wait(run["run_id"], timeout_s=60, poll_s=0.2)
    assert final["state"] == "SUCCESS"
    assert tasks_of(final)["ship"]["value"] == {"label": "ana"}


def test_a_notebook_that_exits_without_calling_back_is_settled_from_its_exit_value(dev: Dev) -> None:
    run = dev.client.start_run("quiet")
    doc = dev.client.wait(run["run_id"], timeout_s=60, poll_s=0.2)
    assert doc["state"] == "SUCCESS", doc
    assert tasks_of(doc)["silent"]["value"] == {"answer": "42"}
    assert tasks_of(doc)["next"]["value"] == {"label": "42"}


def test_the_cli_runs_a_flow_and_reports_its_state_and_exit_code(dev: Dev) -> None:
    ok = dev.cli("run", "fails", "--wait", "--json")
    assert ok.returncode == 1  # the run failed
    doc = json.loads(ok.stdout)
    assert doc["state"] == "FAILED" and doc["flow"] == "fails"
    status = dev.cli("status", doc["run_id"], "--json")
    assert status.returncode == 1 and json.loads(status.stdout) == doc
    missing = dev.cli("status", "no-such-run")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_lakehook_repair_reruns_what_failed_in_the_same_run(dev: Dev) -> None:
    run_id = dev.client.start_run("fails")["run_id"]
    first = tasks_of(dev.client.wait(run_id, timeout_s=60, poll_s=0.2))
    repaired = dev.cli("repair", run_id, "--wait", "--json")
    assert repaired.returncode == 1, repaired.stderr  # boom fails again: the run FAILED again
    doc = json.loads(repaired.stdout)
    assert (doc["state"], doc["repair_count"], doc["latest_repair_id"]) == ("FAILED", 1, 1)
    t = tasks_of(doc)
    assert t["explode"]["attempt"] == 2 and t["explode"]["promise_id"] == f"{run_id}.explode.2"
    assert t["explode"]["databricks_run_id"] != first["explode"]["databricks_run_id"]
    assert t["first"] == first["first"] and t["cleanup"] == first["cleanup"]  # succeeded: kept
    assert t["after"]["state"] == "UPSTREAM_FAILED"
