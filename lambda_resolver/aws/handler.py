"""The Lambda entry point: ``lambda_resolver.aws.handler.handler`` — wiring only.

One function serves four doors, told apart by the event's shape:

- a Function URL (or API Gateway HTTP API) request → the HTTP API;
- an EventBridge scheduled event → reconciler passes (:mod:`.doors`);
- ``{"lakehook_delivery": {"kind", "id", "attempt"}}`` → one completion-webhook attempt the
  function handed itself (:mod:`.doors`);
- ``{"lakehook_fanout": {"run_id", "task_key", "offset"}}`` → one chunk of a wide fan-out the
  function handed itself (:mod:`.doors`);
- anything else — a direct ``lambda:InvokeFunction`` by an IAM-authorised operator → the
  operator door (``{"lakehook": "<action>", ...}``).

Nothing happens at import (SnapStart snapshots the imported module, :mod:`.snapstart`): the
store, the Databricks client and the secrets are built on the first event, once per container.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from lambda_resolver.aws import doors
from lambda_resolver.aws.config import AwsConfig, function_url
from lambda_resolver.aws.credentials import Credentials
from lambda_resolver.aws.secrets import SecretCache
from lambda_resolver.aws.snapstart import preload_for_snapshot
from lambda_resolver.awsclient import factory

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


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
        self._dynamodb = dynamodb or factory("dynamodb")
        self._lambda = lambda_client or factory("lambda")
        # A self-invoke happens on a callback's path: short timeouts, one retry, never minutes.
        self._invoker = lambda_client or factory("lambda", connect_timeout=2, read_timeout=5, retries=1)
        self._launcher = launcher
        self.secrets = SecretCache(secretsmanager)
        self._now = clock or time.monotonic
        self.credentials = Credentials(self.secrets, lambda: self._now())  # noqa: PLW0108 - late-bound clock
        self._lock = threading.Lock()
        self._handler: Handler | None = None
        self._services: Any = None
        self._config: AwsConfig | None = None
        self._callback_url: str | None = None
        self.telemetry: Any = None

    def __call__(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        from lambda_resolver.http.wire import is_http_event

        if is_http_event(event):
            self._learn_url(event)
        handler = self._build(context)
        assert self._config is not None
        self.credentials.refresh(self._config, self._services)
        if self.telemetry is not None:
            self.telemetry.start_request()
        try:
            if doors.is_schedule(event):
                return doors.reconcile(self._services.get_engine(), context)
            if doors.is_delivery(event):
                return doors.deliver(self._services.get_engine(), event["lakehook_delivery"])
            if doors.is_fanout(event):
                return doors.fanout(self._services.get_engine(), event["lakehook_fanout"])
            return handler(event, context)
        finally:
            if self.telemetry is not None and self.telemetry.metrics.metric_set:
                self.telemetry.metrics.flush_metrics()

    def _build(self, context: Any) -> Handler:
        with self._lock:
            if self._handler is None:
                self._handler = self._make(context)
        return self._handler

    def _make(self, context: Any) -> Handler:
        from lambda_resolver.aws.observability import build_telemetry
        from lambda_resolver.http.app import make_handler
        from lambda_resolver.http.services import Services

        config = self._config = AwsConfig.from_env(self.environ)
        secrets = self.credentials.read(config)
        self.telemetry = build_telemetry()
        self._services = Services(
            engine=lambda: self._engine(config, secrets.receivers, context),
            signer=secrets.keys.signer,
            operator_key=secrets.operator_key,
            webhook_credentials=secrets.webhook,
            resonate_compat=config.resonate_compat,
        )
        return make_handler(self._services)

    def _engine(self, config: AwsConfig, receivers: Any, context: Any) -> Any:
        from lambda_resolver.core.context import Settings
        from lambda_resolver.databricks.lazy import LazySdkLauncher
        from lambda_resolver.delivery import HttpNotifier
        from lambda_resolver.http.documents import documents_of
        from lambda_resolver.wiring import build_engine

        db = config.databricks_config(self.secrets)
        engine = build_engine(
            store=config.store,
            clients={"dynamodb": self._dynamodb()},
            launcher=self._launcher(db) if self._launcher else LazySdkLauncher(config=db),
            signer=self._services.signer,
            settings=Settings(callback_url=self._url(config, context), **dict(config.timings)),
            event=self.telemetry,
        )
        engine.ctx.notifier = HttpNotifier(receivers, documents_of(engine))
        send = doors.self_invoke(self.environ, context, self._invoker)  # one client for both
        engine.ctx.dispatch = doors.delivery_dispatch(send)
        engine.ctx.handoff = doors.fanout_handoff(send)
        return engine

    def _learn_url(self, event: Mapping[str, Any]) -> None:
        if self._callback_url is None:
            domain = (event.get("requestContext") or {}).get("domainName")
            if isinstance(domain, str) and domain.endswith(".on.aws"):
                self._callback_url = f"https://{domain}"

    def _url(self, config: AwsConfig, context: Any) -> str:
        if not config.callback_url and not self._callback_url:
            self._callback_url = function_url(self._lambda, self.environ, doors.qualifier_of(context))
        return config.callback_url or self._callback_url or ""


preload_for_snapshot()
_resolver: Resolver | None = None


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda handler. The resolver is created on the first event of the container."""
    global _resolver  # noqa: PLW0603 - one per container, by design (warm reuse)
    if _resolver is None:
        _resolver = Resolver()
    return _resolver(event, context)
