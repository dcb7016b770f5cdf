"""The console on this repository's ML flow: eleven tasks, a condition's outcomes on its edges,
the approval gate resolved from the page."""

from __future__ import annotations

import requests

from support.console import Recorded
from support.e2e import Dev


def test_ml_flow_dag_is_layered_with_condition_outcomes(ml_dev: Dev, recorded: Recorded) -> None:
    started = requests.post(
        f"{ml_dev.url}/v1/runs", json={"flow": "ml_pipeline", "params": {"force_auc": "0.91"}}, timeout=10
    )
    run_id = started.json()["run_id"]
    page = recorded.page
    page.goto(f"{ml_dev.url}/console/#/runs/{run_id}")
    page.wait_for_selector('#dag g.node[data-task="approve"][data-state="RUNNING"]', timeout=60_000)
    assert page.locator("#dag g.node").count() == 11
    labels = page.eval_on_selector_all("#dag text.edge-label", "ts => ts.map(t => t.textContent).sort()")
    assert labels == ["false", "true"]
    assert page.get_attribute('#dag g.node[data-task="notify_rejected"]', "data-state") == "EXCLUDED"
    xs = dict(
        page.eval_on_selector_all(
            "#dag g.node", "gs => gs.map(g => [g.dataset.task, g.getBoundingClientRect().x])"
        )
    )
    order = ["features_users", "combine_features", "train", "validate", "check_metric", "approve", "deploy"]
    assert [xs[k] for k in order] == sorted(xs[k] for k in order) and len({xs[k] for k in order}) == len(
        order
    )
    assert xs["features_users"] == xs["features_items"] == xs["features_events"]
    assert xs["cleanup"] > xs["deploy"]

    page.click('#dag g.node[data-task="approve"]')
    page.fill("#resolve-value", '{"approved_by": "console"}')
    page.click("#resolve")
    page.wait_for_selector('#dag g.node[data-task="deploy"][data-state="SUCCESS"]', timeout=60_000)
    page.wait_for_selector('#run-state [data-state="SUCCESS"]', timeout=60_000)
    recorded.assert_clean()
