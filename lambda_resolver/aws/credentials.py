"""The secrets the Lambda runs on, read from Secrets Manager and re-read after their cache lifetime.

A rotation — a new signing key, operator key, webhook password or receiver secret — reaches a warm
container within that lifetime: :meth:`Credentials.refresh` reads them again and hands them to the
HTTP edge and the engine, which then verify with both keys and sign new attempts with the new one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from lambda_resolver.aws.config import (
    AwsConfig,
    SigningKeys,
    parse_basic,
    parse_operator_key,
    parse_receivers,
    parse_signing_keys,
)
from lambda_resolver.aws.secrets import SecretCache


class Secrets(NamedTuple):
    """One reading of every secret."""

    keys: SigningKeys
    operator_key: str | None
    webhook: tuple[str, str] | None
    receivers: Any  # lambda_resolver.delivery.Receivers


class Credentials:
    """Reads the secrets ``config`` names through ``cache``; ``now`` is a monotonic clock."""

    def __init__(self, cache: SecretCache, now: Callable[[], float]) -> None:
        self.cache = cache
        self._now = now
        self._read_at = 0.0
        self._lock = threading.Lock()

    def read(self, config: AwsConfig) -> Secrets:
        from lambda_resolver.delivery import Receivers

        get = self.cache.get
        secrets = Secrets(
            keys=parse_signing_keys(get(config.signing_secret)),
            operator_key=parse_operator_key(get(config.operator_secret)) if config.operator_secret else None,
            webhook=parse_basic(get(config.webhook_secret)) if config.webhook_secret else None,
            receivers=(
                parse_receivers(get(config.notify_receivers_secret))
                if config.notify_receivers_secret
                else Receivers()
            ),
        )
        self._read_at = self._now()
        return secrets

    def refresh(self, config: AwsConfig, services: Any) -> None:
        """Re-read the secrets if their cache lifetime has passed, and apply them to ``services``
        (the HTTP edge) and its engine, if built."""
        if self._now() - self._read_at < self.cache.ttl_s:
            return
        with self._lock:
            if self._now() - self._read_at < self.cache.ttl_s:
                return
            fresh = self.read(config)
            services.signer, services.operator_key, services.webhook_credentials = (
                fresh.keys.signer,
                fresh.operator_key,
                fresh.webhook,
            )
            engine = services._engine  # the engine signs new attempts' tokens with the active key
            if engine is not None:
                engine.ctx.signer = fresh.keys.signer
                engine.ctx.notifier.receivers = fresh.receivers  # a receiver added or its secret rotated
