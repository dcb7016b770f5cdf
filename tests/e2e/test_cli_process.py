"""The ``lakehook`` command as a process: exit codes, the state directory's lock, files left
behind, signals, and what a caller that is not a terminal reads."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lambda_resolver.client import LakehookClient

from support.e2e import E2E_BUNDLE, REPO, Dev, free_port

LAKEHOOK = [sys.executable, "-m", "lambda_resolver.cli"]
# As a terminal starts a command: Ctrl-C at its default and unblocked, whatever this test
# process inherited or set, then the CLI in its place (exec).
AS_FROM_A_SHELL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
]


def lakehook(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAKEHOOK, *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*AS_FROM_A_SHELL, *LAKEHOOK, *args],
        env={**os.environ, "COLUMNS": "200", "PYTHONFAULTHANDLER": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def read_until(proc: subprocess.Popen[str], needle: str, seen: list[str], timeout_s: float = 60) -> str:
    """Lines of ``proc``'s output until one contains ``needle`` (that line)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"exited {proc.wait()} before {needle!r}:\n{''.join(seen)}")
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no {needle!r} within {timeout_s} s:\n{''.join(seen)}")


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_a_resolver_that_cannot_be_reached_exits_2_with_one_line() -> None:
    done = lakehook("status", "some-run", "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [x for x in " ".join(done.stderr.split("\n")).split("  ") if x.strip()]
    assert len(lines) == 1 and "cannot reach the resolver" in done.stderr


def test_a_second_dev_on_the_same_state_directory_is_refused_and_changes_nothing(
    dev_factory: Callable[..., Dev], tmp_path: Path
) -> None:
    first = dev_factory()
    before = sorted(p.relative_to(first.state_dir) for p in first.state_dir.rglob("*"))
    second = lakehook(
        "dev", "--bundle", str(E2E_BUNDLE), "--state-dir", str(first.state_dir), "--port", str(free_port())
    )
    assert second.returncode == 2
    assert "is in use by another `lakehook dev`" in " ".join(second.stderr.split())
    assert f"pid {first.proc.pid}" in second.stderr
    assert sorted(p.relative_to(first.state_dir) for p in first.state_dir.rglob("*")) == before
    assert first.client.list_flows()  # the first one is unharmed


def test_a_refused_dev_leaves_no_state_directory_behind(
    dev_factory: Callable[..., Dev], tmp_path: Path
) -> None:
    running = dev_factory()
    port = running.url.rsplit(":", 1)[1]
    fresh = tmp_path / "fresh" / ".lakehook"
    done = lakehook("dev", "--bundle", str(E2E_BUNDLE), "--state-dir", str(fresh), "--port", port)
    assert done.returncode == 2 and "cannot start" in done.stderr
    assert not fresh.exists()


def test_the_lock_dies_with_the_process(dev_factory: Callable[..., Dev]) -> None:
    first = dev_factory()
    first.kill()  # SIGKILL: no chance to release anything
    second = dev_factory()  # same state directory
    assert second.client.list_flows()


def test_dev_prints_the_export_line_and_why_a_task_failed(dev_factory: Callable[..., Dev]) -> None:
    dev = dev_factory()
    assert (
        dev.client.wait(dev.client.start_run("fails", run_id="why")["run_id"], timeout_s=60, poll_s=0.2)[
            "state"
        ]
        == "FAILED"
    )
    deadline = time.monotonic() + 10
    while "run why of fails" not in dev.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = dev.log.read_text()
    assert f"export LAKEHOOK_URL={dev.url}" in text
    assert "why explode FAILED (attempt 1): ValueError: the input is bad" in text


def test_run_wait_tells_a_caller_that_is_not_a_terminal_how_to_approve(
    dev: Dev, procs: list[subprocess.Popen[str]]
) -> None:
    proc = spawn("run", "approval", "--run-id", "wait-gate", "--wait", "--url", dev.url)
    procs.append(proc)
    seen: list[str] = []
    line = read_until(proc, "lakehook resolve", seen)
    assert "approve waits for approval" in line
    argv = shlex.split(line[line.index("lakehook resolve") :])
    assert argv[2] == "wait-gate.approve.1" and argv[argv.index("--url") + 1] == dev.url
    resolved = lakehook("resolve", argv[2], "--value", '{"by": "ana"}', "--url", dev.url)
    assert resolved.returncode == 0, resolved.stderr
    assert proc.wait(60) == 0
    assert LakehookClient(dev.url).get_run("wait-gate")["state"] == "SUCCESS"


def test_demo_on_a_flow_with_a_gate_says_what_to_run_and_finishes_once_it_is_run(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    proc = spawn("demo", "--bundle", str(E2E_BUNDLE), "--flow", "approval", env={"TMPDIR": str(tmp_path)})
    procs.append(proc)
    seen: list[str] = []
    line = read_until(proc, "lakehook resolve", seen)
    read_until(proc, "the demo waits for that approval", seen)
    argv = shlex.split(line[line.index("lakehook resolve") :])
    resolved = lakehook("resolve", argv[2], "--value", '{"by": "ana"}', *argv[argv.index("--url") :])
    assert resolved.returncode == 0, resolved.stderr
    assert proc.wait(60) == 0, "".join(seen) + (proc.stdout.read() if proc.stdout else "")
    assert not list(tmp_path.glob("lakehook-demo-*"))  # its state directory is gone


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_demo_cleans_up_on_sigterm_as_on_ctrl_c(
    sig: signal.Signals, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    proc = spawn("demo", "--bundle", str(E2E_BUNDLE), "--flow", "approval", env={"TMPDIR": str(tmp_path)})
    procs.append(proc)
    seen: list[str] = []
    read_until(proc, "the demo waits for that approval", seen)
    assert list(tmp_path.glob("lakehook-demo-*"))
    proc.send_signal(sig)
    assert proc.wait(30) == 128 + sig
    assert not list(tmp_path.glob("lakehook-demo-*"))


def test_shell_completion_completes_commands_and_options() -> None:
    env = {"_LAKEHOOK_COMPLETE": "complete_bash", "COMP_CWORD": "1", "COMP_WORDS": "lakehook sta"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lakehook")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.split() == ["status"]
    env.update(COMP_CWORD="4", COMP_WORDS="lakehook logs some-run some-task --fo")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lakehook")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.split() == ["--follow"]


def test_ctrl_c_stops_watching_a_run_not_the_run(dev: Dev, procs: list[subprocess.Popen[str]]) -> None:
    LakehookClient(dev.url).start_run("approval", run_id="watched")
    proc = spawn("status", "watched", "--watch", "--url", dev.url)
    procs.append(proc)
    seen: list[str] = []
    read_until(proc, "waits for approval", seen)  # it is watching
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:  # say where it hangs: its signal masks and every thread's stack
        masks = [line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines() if "Sig" in line]
        proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER prints the stacks
        proc.wait(10)
        rest = proc.stdout.read() if proc.stdout else ""
        raise AssertionError(f"no exit 30 s after SIGINT; {masks}\n{''.join(seen)}{rest}") from None
    assert proc.returncode == 130
    assert proc.stdout is not None and "stopped watching; run watched goes on" in proc.stdout.read()
    assert LakehookClient(dev.url).get_run("watched")["state"] == "RUNNING"


@pytest.mark.slow
def test_demo_of_the_ml_pipeline_stops_at_its_gate_and_says_what_to_run(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    proc = spawn("demo", "--bundle", str(REPO), "--flow", "ml_pipeline", env={"TMPDIR": str(tmp_path)})
    procs.append(proc)
    seen: list[str] = []
    line = read_until(proc, "lakehook resolve", seen, timeout_s=120)
    assert "approve waits for approval" in line
    argv = shlex.split(line[line.index("lakehook resolve") :])
    resolved = lakehook(*argv[1:])  # exactly the printed line
    assert resolved.returncode == 0, resolved.stderr
    assert proc.wait(120) == 0
    assert not list(tmp_path.glob("lakehook-demo-*"))
