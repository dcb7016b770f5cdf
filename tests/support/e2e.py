"""``lakehook dev`` as a real process for end-to-end tests: start it, talk to it, kill it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from lambda_resolver.client import LakehookClient

REPO = Path(__file__).resolve().parents[2]
E2E_BUNDLE = REPO / "tests" / "fixtures" / "bundles" / "e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dev:
    """A running ``lakehook dev``: its process, URL, state directory and a client."""

    proc: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    log: Path

    @property
    def client(self) -> LakehookClient:
        return LakehookClient(self.url, operator_key="")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LAKEHOOK_URL": self.url}
        return subprocess.run(
            [sys.executable, "-m", "lambda_resolver.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_dev(bundle: Path, state_dir: Path, port: int, *extra: str) -> Dev:
    log = state_dir.parent / f"dev-{port}-{time.monotonic_ns()}.log"
    state_dir.mkdir(parents=True, exist_ok=True)
    out = log.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambda_resolver.cli",
            "dev",
            "--bundle",
            str(bundle),
            "--state-dir",
            str(state_dir),
            "--port",
            str(port),
            *extra,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"lakehook dev exited {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return Dev(proc, url, state_dir, log)
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"lakehook dev did not answer within 60 s:\n{log.read_text()}")
