"""The Lambda entry point: ``lambda_resolver.aws.handler.handler``.

One function serves three doors, told apart by the event's shape:

- a Function URL (or API Gateway HTTP API) request → the HTTP API;
- an EventBridge scheduled event → reconciler passes until the due index is empty or time
  runs short;
- anything else — a direct ``lambda:InvokeFunction`` by an IAM-authorised operator → the
  operator door (``{"lakehook": "<action>", ...}``).

Nothing happens at import (SnapStart snapshots the imported module): the store, the Databricks
client and the secrets are built on the first event, once per container.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from lambda_resolver.aws.config import (
    AwsConfig,
    function_url,
    parse_basic,
    parse_operator_key,
    parse_signing_keys,
)
from lambda_resolver.aws.secrets import SecretCache

RECONCILE_RESERVE_MS = 5_000  # stop starting reconciler passes this close to the Lambda timeout


class Resolver:
    """Per-container state: configuration, secrets, the engine and the HTTP app, built lazily."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        dynamodb: Callable[[], Any] | None = None,
        secretsmanager: Callable[[], Any] | None = None,
        lambda_client: Callable[[], Any] | None = None,
        launcher: Callable[[dict[str, Any]], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self._dynamodb = dynamodb or _boto("dynamodb")
        self._lambda = lambda_client or _boto("lambda")
        self._launcher = launcher
        self.secrets = SecretCache(secretsmanager)
        self._lock = threading.Lock()
        self._handler: Callable[[Mapping[str, Any], Any], dict[str, Any]] | None = None
        self._services: Any = None
        self._callback_url: str | None = None
        self.telemetry: Any = None
        self._now = clock or time.monotonic
        self._secrets_read_at = 0.0
        self._config: AwsConfig | None = None

    def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        from lambda_resolver.http.invoke import is_http_event

        if is_http_event(event):
            self._learn_url(event)
        handler = self._build(context)
        self._refresh_secrets()
        if self.telemetry is not None:
            self.telemetry.start_request()
        try:
            if _is_schedule(event):
                return self._reconcile(context)
            return handler(event, context)
        finally:
            if self.telemetry is not None and self.telemetry.metrics.metric_set:
                self.telemetry.metrics.flush_metrics()

    # -- wiring ---------------------------------------------------------------------------------
    def _build(self, context: Any) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
        if self._handler is not None:
            return self._handler
        with self._lock:
            if self._handler is None:
                self._handler = self._make(context)
        return self._handler

    def _make(self, context: Any) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
        from lambda_resolver.aws.observability import build_telemetry
        from lambda_resolver.http.app import make_handler
        from lambda_resolver.http.services import Services

        config = AwsConfig.from_env(self.environ)
        self._config = config
        keys, operator_key, webhook = self._read_secrets(config)
        self.telemetry = build_telemetry()
        self._services = Services(
            engine=lambda: self._engine(config, keys.notify_secret, context),
            signer=keys.signer,
            operator_key=operator_key,
            webhook_credentials=webhook,
            resonate_compat=config.resonate_compat,
        )
        return make_handler(self._services)

    def _read_secrets(self, config: AwsConfig) -> tuple[Any, str | None, tuple[str, str] | None]:
        keys = parse_signing_keys(self.secrets.get(config.signing_secret))
        operator_key = (
            parse_operator_key(self.secrets.get(config.operator_secret)) if config.operator_secret else None
        )
        webhook = parse_basic(self.secrets.get(config.webhook_secret)) if config.webhook_secret else None
        self._secrets_read_at = self._now()
        return keys, operator_key or None, webhook

    def _refresh_secrets(self) -> None:
        """Re-read the secrets once their cache lifetime has passed, so a rotation (a new signing
        key, operator key or webhook password) reaches warm containers within that lifetime."""
        if self._config is None or self._now() - self._secrets_read_at < self.secrets.ttl_s:
            return
        with self._lock:
            if self._now() - self._secrets_read_at < self.secrets.ttl_s:
                return
            assert self._config is not None
            keys, operator_key, webhook = self._read_secrets(self._config)
            services = self._services
            services.signer, services.operator_key, services.webhook_credentials = (
                keys.signer,
                operator_key,
                webhook,
            )
            engine = services._engine  # the engine signs new attempts' tokens with the active key
            if engine is not None:
                engine.ctx.signer = keys.signer
                if keys.notify_secret and engine.ctx.notifier is not None:
                    engine.ctx.notifier.set_secret(keys.notify_secret)

    def _engine(self, config: AwsConfig, notify_secret: str | None, context: Any) -> Any:
        from lambda_resolver.core.context import Context, Settings
        from lambda_resolver.core.engine import Engine
        from lambda_resolver.databricks.launcher import SdkLauncher
        from lambda_resolver.http.documents import run_document
        from lambda_resolver.stores.dynamodb import DynamoStore
        from lambda_resolver.webhooks import HttpNotifier

        settings = Settings(callback_url=self._url(config, context), **dict(config.timings))
        db = config.databricks_config(self.secrets)
        launcher = self._launcher(db) if self._launcher else SdkLauncher(config=db)
        ctx = Context(
            store=DynamoStore(config.table, client=self._dynamodb()),
            launcher=launcher,
            signer=self._services.signer,
            settings=settings,
            event=self.telemetry,
        )
        engine = Engine(ctx)
        if notify_secret:

            def document(kind: str, record_id: str) -> dict[str, Any]:
                if kind == "run":
                    return run_document(engine, record_id)
                from lambda_resolver.core.engine import promise_document

                return promise_document(engine.get_promise(record_id))

            ctx.notifier = HttpNotifier(notify_secret, document)
        return engine

    def _learn_url(self, event: Mapping[str, Any]) -> None:
        if self._callback_url is None:
            domain = (event.get("requestContext") or {}).get("domainName")
            if isinstance(domain, str) and domain.endswith(".on.aws"):
                self._callback_url = f"https://{domain}"

    def _url(self, config: AwsConfig, context: Any) -> str:
        if config.callback_url:
            return config.callback_url
        if self._callback_url:
            return self._callback_url
        arn = getattr(context, "invoked_function_arn", "") or ""
        qualifier = arn.split(":")[7] if arn.count(":") >= 7 else None
        self._callback_url = function_url(self._lambda, self.environ, qualifier)
        return self._callback_url

    # -- the scheduled door ---------------------------------------------------------------------
    def _reconcile(self, context: Any) -> dict[str, Any]:
        engine = self._services.get_engine()
        totals: dict[str, int] = {}
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        for _ in range(1000):
            counts = engine.reconcile()
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
            if not counts or (remaining is not None and remaining() < RECONCILE_RESERVE_MS):
                break
        return {"status": 200, "body": {"reconciled": totals}}


def _boto(service: str) -> Callable[[], Any]:
    def make() -> Any:
        from lambda_resolver import awsclient

        return awsclient.client(service)

    return make


def _is_schedule(event: Mapping[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


#: What the first event imports, preloaded into a SnapStart snapshot (modules only: nothing is
#: built, so no client, secret or random state is shared by restored environments).
SNAPSHOT_MODULES = (
    "botocore.session",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.metrics",
    "lambda_resolver.aws.observability",
    "lambda_resolver.http.app",
    "lambda_resolver.http.documents",
    "lambda_resolver.core.engine",
    "lambda_resolver.stores.dynamodb",
    "lambda_resolver.webhooks",
    "lambda_resolver.databricks.launcher",
    "databricks.sdk",  # ~2 s of imports: in the snapshot, not in a triggering request
)


def preload_for_snapshot(environ: Mapping[str, str] | None = None) -> list[str]:
    """Import :data:`SNAPSHOT_MODULES` when Lambda is initialising a SnapStart snapshot
    (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``), so a restored container's first request does
    not pay for them. On-demand cold starts import lazily, as before. Returns what was imported."""
    import importlib

    env = os.environ if environ is None else environ
    if env.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return []
    for name in SNAPSHOT_MODULES:
        importlib.import_module(name)
    return list(SNAPSHOT_MODULES)


preload_for_snapshot()
_resolver: Resolver | None = None


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda handler. The resolver is created on the first event of the container."""
    global _resolver  # noqa: PLW0603 - one per container, by design (warm reuse)
    if _resolver is None:
        _resolver = Resolver()
    return _resolver(event, context)
