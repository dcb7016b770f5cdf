"""What the HTTP edge is built from: the engine (built lazily), the signer and the credentials.

The Lambda wiring, the local server and tests each build one :class:`Services` and pass it to
:func:`lambda_resolver.http.app.create_app`. Nothing here talks to AWS or Databricks: the engine
factory is called on the first request that needs the engine (moto's warning, Lambda warm
reuse), once, and a factory that raises is tried again on the next request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lambda_resolver.core.engine import Engine
from lambda_resolver.core.ids import TokenSigner


class Services:
    """The dependencies of the HTTP API and of the direct-invocation operator door.

    - ``engine``: builds the engine; called once, on the first request that needs it.
    - ``signer``: verifies per-promise callback tokens (``Authorization: Bearer <token>``).
    - ``operator_key``: the operator door over HTTP (``Authorization: Bearer <key>`` or
      ``X-Lakehook-Operator-Key: <key>``). ``None`` closes that door (403) unless
      ``operator_open`` is set — the local stack on loopback, where any local caller is the
      operator. Direct Lambda invocation is the operator door on AWS (IAM), whatever this says.
    - ``webhook_credentials``: ``(user, password)`` of HTTP Basic for
      ``POST /v1/webhooks/databricks``; ``None`` answers that route 404 "not configured".
    - ``resonate_compat``: serve ``POST /resolve?id=..&value=..`` (no token: loopback/dev only).
    - ``job_ids``: bundle job key → deployed job id, for ``POST /v1/promises`` with
      ``job_key``; ``None`` looks through the latest published flows' ``jobs``.

    A plain class, not a dataclass: a fresh Lambda defines it before its first callback.
    """

    def __init__(
        self,
        *,
        engine: Callable[[], Engine],
        signer: TokenSigner,
        operator_key: str | None = None,
        operator_open: bool = False,
        webhook_credentials: tuple[str, str] | None = None,
        resonate_compat: bool = False,
        job_ids: Callable[[str], int | None] | None = None,
    ) -> None:
        if operator_key is not None and len(operator_key) < 16:
            raise ValueError("the operator key must be at least 16 characters (use a random secret)")
        if webhook_credentials is not None:
            user, password = webhook_credentials
            if not user or not password or ":" in user:
                raise ValueError("webhook credentials need a user (without ':') and a password")
        self.engine = engine
        self.signer = signer
        self.operator_key = operator_key
        self.operator_open = operator_open
        self.webhook_credentials = webhook_credentials
        self.resonate_compat = resonate_compat
        self.job_ids = job_ids
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        # Secrets never appear in a repr (and so never in a log line or a traceback's locals).
        return (
            f"Services(signer={self.signer!r}, operator_key={'***' if self.operator_key else None}, "
            f"operator_open={self.operator_open}, webhooks={'on' if self.webhook_credentials else 'off'}, "
            f"resonate_compat={self.resonate_compat})"
        )

    def get_engine(self) -> Engine:
        """The engine, built on first use and kept for the life of the process."""
        engine = self._engine
        if engine is not None:
            return engine
        with self._lock:
            if self._engine is None:
                self._engine = self.engine()
            return self._engine

    def job_id_for(self, job_key: str) -> int | None:
        """The deployed Databricks job id of bundle job ``job_key``, or None if unknown."""
        if self.job_ids is not None:
            return self.job_ids(job_key)
        return published_job_id(self.get_engine(), job_key)


def published_job_id(engine: Engine, job_key: str) -> int | None:
    """The default job-key lookup: the latest published flows' job references.

    ``lakehook publish`` stores each flow with the job ids it resolved, so a job any flow uses
    is known once the bundle is published; a job no flow uses needs an explicit ``job_ids``.
    """
    for manifest in engine.list_flows():
        for job in manifest.jobs:
            if job.key == job_key and job.job_id is not None:
                return int(job.job_id)
    return None
