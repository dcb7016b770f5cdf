"""The larger example flow on the local stack: the condition both ways, and the approval gate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.client import LakehookClient
from lambda_resolver.local.stack import LocalStack

from support.e2e import REPO


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LakehookClient]:
    state: Path = tmp_path_factory.mktemp("ml") / "state"
    with LocalStack(REPO, state, port=0) as stack:
        yield LakehookClient(stack.url, operator_key="")


def states(doc: dict[str, Any]) -> dict[str, str]:
    return {t["task_key"]: t["state"] for t in doc["tasks"]}


def wait_for(
    client: LakehookClient, run_id: str, task: str, state: str, timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        doc = client.get_run(run_id)
        if states(doc)[task] == state:
            return doc
        assert time.monotonic() < deadline, states(doc)
        time.sleep(0.2)


def test_a_good_model_waits_for_approval_then_deploys(client: LakehookClient) -> None:
    run = client.start_run("ml_pipeline", params={"force_auc": "0.93"}, run_id="ml-good")
    doc = wait_for(client, run["run_id"], "approve", "RUNNING")
    assert states(doc)["check_metric"] == "SUCCESS" and states(doc)["notify_rejected"] == "EXCLUDED"
    time.sleep(1.0)
    assert states(client.get_run(run["run_id"]))["deploy"] == "WAITING"  # the gate holds
    approve = next(t for t in doc["tasks"] if t["task_key"] == "approve")
    client.resolve(approve["promise_id"], {"by": "ana", "note": "looks good"})
    final = client.wait(run["run_id"], timeout_s=60, poll_s=0.2)
    assert final["state"] == "SUCCESS", states(final)
    assert states(final)["deploy"] == "SUCCESS" and states(final)["cleanup"] == "SUCCESS"


def test_a_weak_model_takes_the_other_branch_and_skips_the_gate(client: LakehookClient) -> None:
    run = client.start_run("ml_pipeline", params={"force_auc": "0.5"}, run_id="ml-weak")
    final = client.wait(run["run_id"], timeout_s=60, poll_s=0.2)
    s = states(final)
    assert (s["check_metric"], s["approve"], s["deploy"], s["notify_rejected"]) == (
        "SUCCESS",
        "EXCLUDED",
        "EXCLUDED",
        "SUCCESS",
    )
    assert s["cleanup"] == "SUCCESS" and final["state"] == "SUCCESS"
