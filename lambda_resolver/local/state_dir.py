"""The local stack's state directory: its lock and the keys it keeps across restarts.

One stack owns a state directory at a time: ``dev.lock`` in it is held with ``flock`` while the
stack runs, released when the stack stops and by the OS when the process dies (even by SIGKILL),
so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path


class StateDirBusy(RuntimeError):
    """Another running stack holds the state directory's lock."""


def lock_state_dir(state_dir: Path) -> int:
    """Take the state directory's lock (creating the directory); return the descriptor that holds
    it — closing it releases the lock. StateDirBusy, naming the holder, if another process has it."""
    import fcntl

    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "dev.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise StateDirBusy(
            f"{state_dir} is in use by another `lakehook dev` ({holder}); stop it, or give "
            "this one its own --state-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}".encode())  # the stack appends its URL once bound
    return fd


def signing_key(state_dir: Path) -> bytes:
    """This stack's callback-token key: random on first start, kept (0600) so tokens survive restarts."""
    path = state_dir / "signing-key.json"
    if path.exists():
        return base64.b64decode(json.loads(path.read_text())["key"])
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"key": base64.b64encode(key).decode()}, f)
    return key


def notify_secret(state_dir: Path) -> str:
    """This stack's completion-webhook secret (``whsec_...``): random on first start, kept (0600)
    apart from the callback-token key, so a local receiver verifies with it across restarts."""
    path = state_dir / "notify-secret.json"
    if path.exists():
        return str(json.loads(path.read_text())["secret"])
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"secret": secret}, f)
    return secret
