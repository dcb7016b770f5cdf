"""Take docs/img/console.png: ``lakehook dev`` on this repository's bundle, the ML flow started and
waiting at its approval gate, the console showing its DAG in headless Chromium.

    python scripts/console_screenshot.py [--out docs/img/console.png] [--chromium /usr/bin/chromium]

Needs the ``dev`` extra (playwright) and a Chromium (``apt-get install chromium``); nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def task_state(url: str, run_id: str, key: str) -> str:
    doc = requests.get(f"{url}/v1/runs/{run_id}", timeout=5).json()
    return str(next(t["state"] for t in doc["tasks"] if t["task_key"] == key))


def main() -> None:
    """Start the stack, the flow and the browser; write the PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "console.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as state:
        cmd = [sys.executable, "-m", "lambda_resolver.cli", "dev", "--bundle", str(REPO)]
        cmd += ["--state-dir", state, "--port", str(port)]
        quiet = subprocess.DEVNULL
        dev = subprocess.Popen(cmd, stdout=quiet, stderr=quiet, start_new_session=True)  # noqa: S603 - our own CLI
        try:
            wait_for("lakehook dev", lambda: _ok(f"{url}/healthz"))
            flow = {"flow": "ml_pipeline", "params": {"force_auc": "0.91"}}  # passes its check: the gate
            started = requests.post(f"{url}/v1/runs", json=flow, timeout=10)
            started.raise_for_status()
            run_id = started.json()["run_id"]
            wait_for("the approval gate", lambda: task_state(url, run_id, "approve") == "RUNNING")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=args.chromium, headless=True, args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1600, "height": 640}, device_scale_factor=1)
                page.goto(f"{url}/console/#/runs/{run_id}")
                page.wait_for_selector('#dag g.node[data-task="approve"][data-state="RUNNING"]')
                page.click('#dag g.node[data-task="approve"]')
                page.wait_for_selector("#resolve-form")
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out), full_page=True)
                browser.close()
            print(f"wrote {args.out}")
        finally:
            os.killpg(dev.pid, signal.SIGINT)
            dev.wait(20)


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


if __name__ == "__main__":
    main()
