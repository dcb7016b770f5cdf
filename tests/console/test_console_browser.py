"""The web console in a real headless Chromium against a real ``lakehook dev`` process.

Every test also checks that the page only talked to loopback and raised or logged no error.
"""

from __future__ import annotations

import time

import requests

from support.console import Recorded
from support.e2e import Dev

FINAL = ("SUCCESS", "FAILED", "SUCCESS_WITH_FAILURES", "CANCELED", "TIMEDOUT")


def start(dev: Dev, flow: str, **params: object) -> str:
    r = requests.post(f"{dev.url}/v1/runs", json={"flow": flow, "params": params}, timeout=10)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["run_id"])


def settled(dev: Dev, run_id: str) -> dict[str, object]:
    """The run's document once it is final (the resolver drives it; no browser involved)."""
    deadline = time.monotonic() + 60
    while True:
        doc: dict[str, object] = requests.get(f"{dev.url}/v1/runs/{run_id}", timeout=5).json()
        if doc["state"] in FINAL or time.monotonic() > deadline:
            return doc
        time.sleep(0.2)


def open_run(rec: Recorded, dev: Dev, run_id: str) -> None:
    rec.page.goto(f"{dev.url}/console/#/runs/{run_id}")
    rec.page.wait_for_selector("#dag svg g.node")


def node_state(rec: Recorded, key: str) -> str:
    return str(rec.page.get_attribute(f'#dag g.node[data-task="{key}"]', "data-state"))


def test_console_redirects_and_refuses_foreign_host(dev: Dev) -> None:
    r = requests.get(f"{dev.url}/console", allow_redirects=False, timeout=5)
    assert r.status_code == 308 and r.headers["Location"] == "/console/"
    page = requests.get(f"{dev.url}/console/", timeout=5)
    assert (
        page.ok
        and "console.js" in page.text
        and "connect-src 'self'" in page.headers["Content-Security-Policy"]
    )
    assert requests.get(f"{dev.url}/console/../pyproject.toml", timeout=5).status_code == 404
    assert requests.post(f"{dev.url}/console/", timeout=5).status_code == 405
    rebound = requests.get(f"{dev.url}/console/", headers={"Host": "evil.example"}, timeout=5)
    assert rebound.status_code == 403


def test_runs_list_filters_and_pages(dev: Dev, recorded: Recorded) -> None:
    ids = [start(dev, "fails") for _ in range(3)]
    start(dev, "sleepy")
    page = recorded.page
    page.goto(f"{dev.url}/console/#/?flow=fails&limit=2")
    rows = "#runs tbody tr[data-run]"
    page.wait_for_selector(rows)
    assert page.locator(rows).count() == 2
    page.click("#more")  # the next page, by the cursor the first one returned
    page.wait_for_function(f"() => document.querySelectorAll('{rows}').length >= 3")
    shown = page.eval_on_selector_all(rows, "rows => rows.map(r => r.dataset.run)")
    assert set(ids) <= set(shown)
    flows = page.eval_on_selector_all(f"{rows} td:nth-child(2)", "c => c.map(x => x.textContent)")
    assert set(flows) == {"fails"}

    for run_id in ids:
        settled(dev, run_id)
    # the form: flow and state filters, submitted as a person would
    page.goto(f"{dev.url}/console/#/")
    page.fill('#filters input[name="flow"]', "fails")
    page.select_option('#filters select[name="state"]', "FAILED")
    page.click('#filters button[type="submit"]')
    page.wait_for_function("() => location.hash.includes('state=FAILED')")
    page.wait_for_selector(rows)
    states = page.eval_on_selector_all(f"{rows} [data-state]", "b => b.map(x => x.dataset.state)")
    assert states and set(states) == {"FAILED"}
    page.click(f'{rows}[data-run="{ids[0]}"] a')  # a run opens its DAG
    page.wait_for_selector('#dag g.node[data-task="explode"][data-state="FAILED"]')
    recorded.assert_clean()


def test_run_goes_from_running_to_success_live(dev: Dev, recorded: Recorded) -> None:
    run_id = start(dev, "sleepy")
    open_run(recorded, dev, run_id)
    page = recorded.page
    page.wait_for_selector('#dag g.node[data-task="wait"][data-state="RUNNING"]')
    assert node_state(recorded, "done") == "WAITING"
    # no reload: the page polls the run and redraws the DAG
    page.wait_for_selector('#dag g.node[data-task="done"][data-state="SUCCESS"]', timeout=60_000)
    page.wait_for_selector('#run-state [data-state="SUCCESS"]')
    assert node_state(recorded, "wait") == "SUCCESS"
    assert page.locator('#dag path[data-edge="wait->done"]').count() == 1
    recorded.assert_clean()


def test_failed_task_shows_error_and_log_then_repair(dev: Dev, recorded: Recorded) -> None:
    run_id = start(dev, "fails")
    open_run(recorded, dev, run_id)
    page = recorded.page
    page.wait_for_selector('#run-state [data-state="FAILED"]', timeout=60_000)
    assert node_state(recorded, "after") == "UPSTREAM_FAILED"
    page.click('#dag g.node[data-task="explode"]')
    assert "the input is bad" in page.inner_text("#task-error")
    page.wait_for_function("() => document.querySelector('#task-log').textContent.includes('Traceback')")
    assert "boom.py" in page.inner_text("#task-log")
    assert page.get_attribute("#databricks-link", "href").startswith("http://127.0.0.1:")

    page.click("#repair")
    page.wait_for_function(
        "() => document.querySelector('#run-head').textContent.includes('repairs: 1')", timeout=30_000
    )
    doc = settled(dev, run_id)
    assert doc["repair_count"] == 1
    explode = next(t for t in doc["tasks"] if t["task_key"] == "explode")
    assert explode["attempt"] >= 2  # the failed task ran again
    page.wait_for_selector('#run-state [data-state="FAILED"]', timeout=60_000)
    recorded.assert_clean()


def test_resolve_an_approval_gate(dev: Dev, recorded: Recorded) -> None:
    run_id = start(dev, "approval")
    open_run(recorded, dev, run_id)
    page = recorded.page
    page.wait_for_selector('#dag g.node[data-task="approve"][data-state="RUNNING"]', timeout=60_000)
    page.click('#dag g.node[data-task="approve"]')
    page.fill("#resolve-value", '{"approved": true, "by": "console"}')
    page.click("#resolve")
    page.wait_for_selector('#run-state [data-state="SUCCESS"]', timeout=60_000)
    doc = requests.get(f"{dev.url}/v1/runs/{run_id}", timeout=5).json()
    approve = next(t for t in doc["tasks"] if t["task_key"] == "approve")
    assert approve["value"] == {"approved": True, "by": "console"}
    assert node_state(recorded, "ship") == "SUCCESS"
    recorded.assert_clean()


def test_cancel_a_running_run(dev: Dev, recorded: Recorded) -> None:
    run_id = start(dev, "approval")
    open_run(recorded, dev, run_id)
    page = recorded.page
    page.wait_for_selector("#cancel")
    page.click("#cancel")
    page.wait_for_selector('#run-state [data-state="CANCELED"]', timeout=30_000)
    assert requests.get(f"{dev.url}/v1/runs/{run_id}", timeout=5).json()["state"] == "CANCELED"
    recorded.assert_clean()


def boxes(rec: Recorded) -> dict[str, dict[str, float]]:
    """Each DAG node's box on screen, by task key."""
    return dict(
        rec.page.eval_on_selector_all(
            "#dag g.node",
            "gs => gs.map(g => { const r = g.getBoundingClientRect();"
            " return [g.dataset.task, {x: r.x, y: r.y, w: r.width, h: r.height}]; })",
        )
    )


def overlapping(b: dict[str, dict[str, float]]) -> list[tuple[str, str]]:
    keys = sorted(b)
    return [
        (a, c)
        for i, a in enumerate(keys)
        for c in keys[i + 1 :]
        if b[a]["x"] < b[c]["x"] + b[c]["w"]
        and b[c]["x"] < b[a]["x"] + b[a]["w"]
        and b[a]["y"] < b[c]["y"] + b[c]["h"]
        and b[c]["y"] < b[a]["y"] + b[a]["h"]
    ]


def test_a_40_wide_fan_out_wraps_into_columns(dev: Dev, recorded: Recorded) -> None:
    run_id = start(dev, "fanout")
    open_run(recorded, dev, run_id)
    recorded.page.wait_for_selector('#dag g.node[data-task="gate"][data-state="RUNNING"]')
    b = boxes(recorded)
    leaves = [k for k in b if k.startswith("leaf_")]
    assert len(leaves) == 40 and len(b) == 42
    assert not overlapping(b)
    # left to right by depth: the gate, then every leaf, then the join
    assert all(b["gate"]["x"] < b[k]["x"] < b["join"]["x"] for k in leaves)
    # the wide layer wraps: no column holds more than 12 leaves, so it stays on a screen's height
    columns: dict[int, int] = {}
    for k in leaves:
        columns[round(b[k]["x"])] = columns.get(round(b[k]["x"]), 0) + 1
    assert len(columns) >= 4 and max(columns.values()) <= 12
    recorded.assert_clean()


def test_pause_and_resume_a_schedule(dev: Dev, recorded: Recorded) -> None:
    def active() -> bool:
        doc = requests.get(f"{dev.url}/v1/schedules", timeout=5).json()
        return bool(next(s["active"] for s in doc["schedules"] if s["flow"] == "nightly_sched"))

    first = active()  # whichever way it starts, the button flips it and flips it back
    words = {True: "active", False: "paused"}
    page = recorded.page
    page.goto(f"{dev.url}/console/#/schedules")
    row = '#schedules tr[data-flow="nightly_sched"]'
    page.wait_for_selector(row)
    assert words[first] in page.inner_text(row)
    for expected in (not first, first):
        page.click(f"{row} button")
        page.wait_for_function(
            f"() => document.querySelector('{row}').textContent.includes('{words[expected]}')"
        )
        assert active() is expected
    recorded.assert_clean()


def test_dev_prints_the_console_url(dev: Dev) -> None:
    assert f"console {dev.url}/console/" in dev.log.read_text()
