"""Secrets Manager reads, cached per container for a few minutes.

Fetched inside the handler, never at import: a SnapStart snapshot must not freeze secrets, and
a rotated key must reach warm containers within the cache's lifetime.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class SecretCache:
    """``get(arn)`` → the secret string, read once per ``ttl_s`` per secret."""

    def __init__(self, client_factory: Callable[[], Any] | None = None, *, ttl_s: float = 300.0) -> None:
        self._factory = client_factory
        self._client: Any = None
        self.ttl_s = ttl_s
        self._values: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretCache({len(self._values)} cached)"

    def _sm(self) -> Any:
        if self._client is None:
            if self._factory is not None:
                self._client = self._factory()
            else:
                from lambda_resolver import awsclient

                self._client = awsclient.client("secretsmanager")
        return self._client

    def get(self, secret_id: str) -> str:
        """The current value of ``secret_id`` (an ARN or name)."""
        now = time.monotonic()
        with self._lock:
            hit = self._values.get(secret_id)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit[1]
        answer = self._sm().get_secret_value(SecretId=secret_id)
        value = answer.get("SecretString")
        if not isinstance(value, str):
            raise TypeError(f"secret {secret_id} has no SecretString; store it as text (JSON)")
        with self._lock:
            self._values[secret_id] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
