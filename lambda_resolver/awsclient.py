"""Low-level AWS clients, built from botocore alone.

boto3 adds nothing the resolver uses (it only ever asks for low-level clients), and importing it
pulls in s3transfer: about 100 ms of every cold start of the callback path. A botocore session
reads the same environment (credentials, ``AWS_DEFAULT_REGION``), so the clients are the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_session: Any = None


def client(service: str, config: Any = None) -> Any:
    """A new low-level client for ``service`` (e.g. "dynamodb"), from one shared session;
    ``config`` is a ``botocore.config.Config`` (timeouts, retries) or None for the defaults."""
    global _session  # noqa: PLW0603 - one session per process, built on first use
    with _lock:  # a botocore session is not safe to build clients from concurrently
        if _session is None:
            import botocore.session

            _session = botocore.session.get_session()
        return _session.create_client(service, config=config)


def factory(
    service: str, *, connect_timeout: float | None = None, read_timeout: float | None = None, retries: int = 0
) -> Callable[[], Any]:
    """A function that builds a ``service`` client when called (clients are built lazily, on the
    first event that needs them); with timeouts, a client that gives up quickly."""

    def make() -> Any:
        if connect_timeout is None:
            return client(service)
        from botocore.config import Config

        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": 1 + retries},
        )
        return client(service, config)

    return make
