"""A notebook written for the Resonate "Databricks in the loop" example works unchanged."""

from __future__ import annotations

from typing import Any

from support.e2e import Dev


def test_the_resonate_shaped_resolve_settles_its_promise_when_enabled(dev_factory: Any) -> None:
    dev: Dev = dev_factory("--resonate-compat")
    created = dev.client.create_promise(
        "hello-1", timeout_s=120, job_key="resonate_hello", params={"promise_id": "hello-1", "url": dev.url}
    )
    assert created["state"] == "PENDING" and created["databricks_run_id"]
    done = dev.client.wait_promise("hello-1", timeout_s=60, poll_s=0.2)
    assert (done["state"], done["value"]) == ("RESOLVED", "hello world")
