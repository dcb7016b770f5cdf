"""Fixtures: one headless Chromium (Debian's) for the module's tests, and pages that record what they do.

Without the ``playwright`` package or a Chromium the tests skip with a reason starting with
:data:`SKIP_PREFIX`; under ``CI=true`` tests/conftest.py turns that skip into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.console import SKIP_PREFIX, Recorded
from support.e2e import REPO, Dev, free_port, start_dev

CHROMIUM = os.environ.get("LAKEHOOK_CHROMIUM", "/usr/bin/chromium")


def chromium_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"{SKIP_PREFIX}: the playwright package is not installed (pip install -e '.[dev]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{SKIP_PREFIX}: no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for every console test."""
    reason = chromium_unavailable()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chrome
        chrome.close()


@pytest.fixture
def recorded(browser: Any) -> Iterator[Recorded]:
    """A fresh browser context and page that records requests and errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    rec = Recorded(page)
    page.on("request", lambda r: rec.requests.append(r.url))
    page.on("pageerror", lambda e: rec.errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: rec.errors.append(f"console: {m.text}") if m.type == "error" else None)
    yield rec
    context.close()


FANOUT = 40
#: A flow on a daily schedule (02:00 UTC: it does not fire while a test runs), to pause and resume.
SCHEDULED = """resources:
  jobs:
    nightly_sched:
      name: nightly_sched
      tags: {lakehook: flow}
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC, pause_status: PAUSED}
      tasks:
        - task_key: only
          run_job_task: {job_id: "${resources.jobs.ok.id}"}
"""


def fanout_flow(width: int) -> str:
    """A flow whose root is an approval gate (it waits: nothing else starts) and ``width`` leaves."""
    ok = '{job_id: "${resources.jobs.ok.id}"}'
    lines = [
        "resources:",
        "  jobs:",
        "    fanout:",
        "      name: fanout",
        "      tags: {lakehook: flow}",
        "      tasks:",
        '        - {task_key: gate, run_job_task: {job_id: "${resources.jobs.gate.id}"}}',
    ]
    lines += [
        f"        - {{task_key: leaf_{i:02d}, depends_on: [{{task_key: gate}}], run_job_task: {ok}}}"
        for i in range(width)
    ]
    join = ", ".join(f"{{task_key: leaf_{i:02d}}}" for i in range(width))
    lines.append(f"        - {{task_key: join, depends_on: [{join}], run_job_task: {ok}}}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """One ``lakehook dev`` for the module: the e2e bundle plus a 40-wide fan-out flow."""
    if chromium_unavailable() is not None:
        pytest.skip(str(chromium_unavailable()))
    root = tmp_path_factory.mktemp("dev")
    bundle = root / "bundle"
    shutil.copytree(REPO / "tests" / "fixtures" / "bundles" / "e2e", bundle)
    (bundle / "bundles" / "fanout.yml").write_text(fanout_flow(FANOUT))
    (bundle / "bundles" / "scheduled.yml").write_text(SCHEDULED)
    d = start_dev(bundle, root / "state", free_port())
    yield d
    d.stop()


@pytest.fixture(scope="module")
def ml_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """``lakehook dev`` on this repository's bundle (the ML flow: a condition and an approval gate)."""
    if chromium_unavailable() is not None:
        pytest.skip(str(chromium_unavailable()))
    d = start_dev(REPO, tmp_path_factory.mktemp("mldev") / "state", free_port())
    yield d
    d.stop()
