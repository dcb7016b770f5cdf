"""One task's child process: start it in its own process group, stop it, read its log.

Each task runs in a new session (POSIX) so a cancel or a timeout stops everything the task
started — Spark's JVM, shell commands — not just the Python process: SIGTERM to the group
first (the task runner unwinds, ``finally`` blocks run), SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

LOG_TAIL_LINES = 40
LOG_TAIL_BYTES = 64 * 1024
_POSIX = os.name == "posix"


def spawn(
    argv: Sequence[str], *, cwd: str, env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr appended to ``log_path``, stdin closed."""
    with open(log_path, "ab") as log:
        if _POSIX:
            return subprocess.Popen(  # noqa: S603 - our own interpreter and module
                list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return subprocess.Popen(  # noqa: S603 - pragma: no cover (Windows)
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )  # fmt: skip


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to the task's whole process group (or the process, off POSIX)."""
    if _POSIX:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
    elif proc.poll() is None:  # pragma: no cover - Windows
        proc.kill() if sig == getattr(signal, "SIGKILL", 9) else proc.terminate()


def stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the group, wait up to ``grace_s``, then SIGKILL it; returns once the process is reaped."""
    signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    reap(proc)


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill whatever is left of the task's group (its leader included) and wait for the leader."""
    signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def describe_exit(returncode: int) -> str:
    """``killed by signal SIGKILL (9)`` or ``exited with code 3``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "an unknown signal"
        return f"killed by signal {name} ({-returncode})"
    return f"exited with code {returncode}"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """The last ``lines`` lines of the log (at most ``max_bytes``); ``""`` if there is none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])
