"""A for_each flow on the local stack, through real processes: `lakehook dev`, its resolver and
reconciler, and the local workspace running the `item` job once per input as a subprocess. The
inputs come from the upstream task's value; every iteration's run gets its own `{{input}}`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from support.e2e import Dev

BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "bundles" / "for_each"


def iterations(dev: Dev, run_id: str) -> list[dict[str, Any]]:
    """Every iteration of `each`, page by page."""
    out: list[dict[str, Any]] = []
    cursor: str | None = ""
    while cursor is not None:
        page = requests.get(
            f"{dev.url}/v1/runs/{run_id}/tasks/each", params={"limit": 100, "cursor": cursor}, timeout=10
        ).json()
        out.extend(page["items"])
        cursor = page["next_cursor"]
    return out


def run_fanout(dev: Dev, n: int, timeout_s: float) -> None:
    started = dev.client.start_run("fanout", params={"n": str(n)})
    doc = dev.client.wait(started["run_id"], timeout_s=timeout_s, poll_s=0.5)
    assert doc["state"] == "SUCCESS", doc
    each = next(t for t in doc["tasks"] if t["task_key"] == "each")
    assert each["iterations"] == {"total": n, "SUCCESS": n}
    items = iterations(dev, started["run_id"])
    assert [i["index"] for i in items] == list(range(n))
    # every input ran exactly once, with its own input, promise and Databricks run
    assert [i["value"] for i in items] == [{"item": f"item-{k}"} for k in range(n)]
    assert all(i["attempt"] == 1 and i["state"] == "SUCCESS" for i in items)
    assert len({i["promise_id"] for i in items}) == n
    assert len({i["databricks_run_id"] for i in items}) == n
    assert [t["state"] for t in doc["tasks"]] == ["SUCCESS", "SUCCESS", "SUCCESS"]


def test_a_for_each_over_an_upstream_value_runs_each_input_once(dev_factory: Callable[..., Dev]) -> None:
    run_fanout(dev_factory(bundle=BUNDLE), 4, timeout_s=120)


@pytest.mark.slow
def test_500_inputs_at_concurrency_20_run_each_input_exactly_once(dev_factory: Callable[..., Dev]) -> None:
    run_fanout(dev_factory(bundle=BUNDLE), 500, timeout_s=1800)
