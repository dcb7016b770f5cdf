"""A for_each task in the console: one node with its iterations counted, and the counts by state
in its panel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.console import Recorded
from support.e2e import Dev, free_port, start_dev

BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "bundles" / "for_each"


@pytest.fixture
def loop_dev(tmp_path: Path) -> Iterator[Dev]:
    d = start_dev(BUNDLE, tmp_path / "state", free_port())
    yield d
    d.stop()


def test_a_loop_is_one_node_with_its_iteration_counts(loop_dev: Dev, recorded: Recorded) -> None:
    dev = loop_dev
    started = dev.client.start_run("fanout", params={"n": "3"})
    doc = dev.client.wait(started["run_id"], timeout_s=120, poll_s=0.2)
    assert doc["state"] == "SUCCESS", doc
    page = recorded.page
    page.goto(f"{dev.url}/console/#/runs/{started['run_id']}")
    page.wait_for_selector('#dag g.node[data-task="each"][data-state="SUCCESS"]')
    assert page.locator("#dag g.node").count() == 3  # list, each, report: never a node per iteration
    assert page.text_content('#dag [data-iterations="each"]') == "3/3"
    page.click('#dag g.node[data-task="each"]')
    assert page.text_content("#task-iterations") == "total 3 · SUCCESS 3"
    recorded.assert_clean()
