"""One local workspace and one real databricks-sdk client for the whole session.

Importing databricks-sdk costs ~2 s; building a ``WorkspaceClient`` against the local
workspace costs milliseconds, so tests that need another budget or token build their own.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.clock import Clock
from databricks.sdk.config import Config

from lambda_resolver.local import LocalWorkspace, ManualExecutor

TOKEN = "local-test-token"
_names = itertools.count(1)


class SkipClock(Clock):
    """The SDK's retry clock, with waits skipped: time jumps ahead by what it would have slept,
    so retry budgets keep their meaning and a test with retries takes milliseconds."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def time(self) -> float:
        return time.time() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += seconds


def build_client(url: str, token: str = TOKEN, retry_timeout_s: int = 20, *, real_time: bool = False) -> Any:
    """A real ``WorkspaceClient`` (PAT auth); its retries skip their waits unless ``real_time``."""
    cfg = Config(
        host=url,
        token=token,
        retry_timeout_seconds=retry_timeout_s,
        http_timeout_seconds=10,
        clock=None if real_time else SkipClock(),
    )
    return WorkspaceClient(config=cfg)


@pytest.fixture(scope="session")
def make_client() -> Callable[..., Any]:
    """``make_client(url, token=..., retry_timeout_s=..., real_time=False)``: another client."""
    return build_client


@pytest.fixture(scope="session")
def token() -> str:
    """The workspace's PAT."""
    return TOKEN


@pytest.fixture(scope="session")
def session_workspace() -> Iterator[LocalWorkspace]:
    with LocalWorkspace(executor=ManualExecutor(), token=TOKEN) as ws:
        yield ws


@pytest.fixture
def workspace(session_workspace: LocalWorkspace) -> Iterator[LocalWorkspace]:
    """The session's workspace with a fresh ManualExecutor and no faults queued."""
    session_workspace.executor = ManualExecutor()
    session_workspace.faults.clear()
    yield session_workspace
    session_workspace.faults.clear()
    session_workspace.webhooks.target = None


@pytest.fixture(scope="session")
def client(session_workspace: LocalWorkspace) -> Any:
    """A real ``WorkspaceClient`` (PAT auth) against the session's workspace."""
    return build_client(session_workspace.url)


@pytest.fixture
def child_job(workspace: LocalWorkspace) -> Callable[..., int]:
    """Registers a lakehook child job (one notebook task, a ``lakehook`` parameter) and
    returns its id; names are unique per call."""

    def register(*params: str, name: str | None = None, **settings: Any) -> int:
        n = next(_names)
        spec: dict[str, Any] = {
            "parameters": [{"name": "lakehook", "default": ""}]
            + [{"name": p, "default": ""} for p in params],
            "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": f"/Workspace/child_{n}"}}],
        }
        spec.update(settings)
        return workspace.register_job(None, name or f"child_{n}", spec, key=f"child_{n}")

    return register
