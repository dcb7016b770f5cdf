"""bundle-examples' job_with_run_job_tasks, tagged as a flow, on the local stack: the parent's
`input` reaches both children as Databricks passes a parent job's parameters down, and
`{{ job.parameters.[input] }}` resolves in the children's own task parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from support.e2e import Dev

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "bundles" / "run_job_tasks_example"


def test_the_parents_parameter_reaches_both_children(dev_factory: Callable[..., Dev]) -> None:
    dev = dev_factory(bundle=EXAMPLE)
    client = dev.client
    started = client.start_run("bookings_orchestration")
    doc = client.wait(started["run_id"], timeout_s=120, poll_s=0.2)
    assert doc["state"] == "SUCCESS", doc
    values = {t["task_key"]: t["value"] for t in doc["tasks"]}
    assert values == {
        "run_ingest_reviews": {"argv": ["leaf1", "test_propagation"]},
        "run_ingest_clickstream": {"argv": ["leaf2", "test_propagation"]},
    }
    again = client.start_run("bookings_orchestration", params={"input": "2026-12-07"})
    doc = client.wait(again["run_id"], timeout_s=120, poll_s=0.2)
    assert [t["value"]["argv"][1] for t in doc["tasks"]] == ["2026-12-07", "2026-12-07"]
