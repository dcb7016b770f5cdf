"""SIGKILL ``lakehook dev`` mid-flow, start it again: the flow finishes, with no duplicate run."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from lambda_resolver.local.persist import WorkspaceState

from support.e2e import Dev, free_port


def test_a_killed_dev_restarts_and_finishes_the_flow_with_one_run_per_token(
    dev_factory: Any, tmp_path: Path
) -> None:
    port = free_port()
    marker = tmp_path / "marker.txt"
    first: Dev = dev_factory(port=port)
    run = first.client.start_run("sleepy", params={"marker": str(marker)}, run_id="kill-me")
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text().count("started") == 1):
        assert time.monotonic() < deadline, "the notebook never started"
        time.sleep(0.1)
    first.kill()  # the resolver, the workspace and the notebook, mid-run

    second: Dev = dev_factory(port=port)  # same state directory, same port
    doc = second.client.wait(run["run_id"], timeout_s=90, poll_s=0.2)
    assert doc["state"] == "SUCCESS", doc
    assert [t["attempt"] for t in doc["tasks"]] == [1, 1]
    assert marker.read_text().count("started") == 2  # the interrupted notebook ran again...
    second.stop()
    state = WorkspaceState(second.state_dir / "workspace.db")
    try:
        tokens = Counter(r["idempotency_token"] for r in state.runs() if r.get("idempotency_token"))
    finally:
        state.close()
    assert len(tokens) == 2 and set(tokens.values()) == {1}  # ...as the same run: no duplicate
