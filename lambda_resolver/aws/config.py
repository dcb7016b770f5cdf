"""Configuration of the Lambda from its environment and Secrets Manager.

Environment (set by ``lambda_resolver/template.yaml``):

- ``LAKEHOOK_TABLE``: the DynamoDB table; or ``LAKEHOOK_STORE``, a store URL
  (``dynamodb://<table>?due_shards=N``, see :mod:`lambda_resolver.wiring`), which wins.
- ``LAKEHOOK_SIGNING_KEYS_SECRET``: JSON ``{"active": "k2", "keys": {"k1": "<base64>", ...}}`` —
  callback-token keys (two during a rotation), nothing else: a backend that verifies completion
  webhooks must not hold what mints callback tokens.
- ``LAKEHOOK_NOTIFY_RECEIVERS_SECRET``: JSON ``{"receivers": [{"url": "https://host/path/",
  "secret": "whsec_<base64>"}]}`` — where completion webhooks may go (an exact URL, or a prefix
  ending in "/") and each receiver's signing secret. Empty: ``notify_url`` is refused.
- ``LAKEHOOK_DATABRICKS_SECRET``: JSON ``{"token": ...}`` or ``{"client_id", "client_secret"}``,
  optionally ``"host"``; else ``DATABRICKS_HOST``.
- ``LAKEHOOK_WEBHOOK_SECRET``: JSON ``{"username", "password"}`` of the Databricks notification
  destination (HTTP Basic). Empty: the webhook route is off.
- ``LAKEHOOK_OPERATOR_KEY_SECRET``: the operator key for HTTP (plain text). Empty: the HTTP
  operator door is closed and operators invoke the function directly (IAM).
- ``LAKEHOOK_CALLBACK_URL``: the URL notebooks call back (a custom domain, or API Gateway). When
  empty, the Function URL is used: taken from the request, or read once with
  ``lambda:GetFunctionUrlConfig`` for scheduled passes.
- ``LAKEHOOK_RESONATE_COMPAT``: "1" serves ``POST /resolve``.
- Timings (optional): ``LAKEHOOK_CHECK_INTERVAL_S``, ``LAKEHOOK_DEFAULT_TASK_TIMEOUT_S``,
  ``LAKEHOOK_SUCCESS_GRACE_S``, ``LAKEHOOK_STUCK_CLAIM_S``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from lambda_resolver.aws.secrets import SecretCache
from lambda_resolver.core.ids import TokenSigner

if TYPE_CHECKING:
    from lambda_resolver.delivery import Receivers

log = logging.getLogger("lakehook")


class ConfigError(Exception):
    """The Lambda's configuration is wrong; the message says which variable or secret to fix."""


class SigningKeys(NamedTuple):
    signer: TokenSigner


def parse_signing_keys(text: str) -> SigningKeys:
    """The signing-keys secret: the callback-token keys, with the active one."""
    try:
        doc = json.loads(text)
        keys = {kid: base64.b64decode(v, validate=True) for kid, v in doc["keys"].items()}
        active = doc["active"]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise ConfigError(
            'the signing-keys secret must be JSON {"active": "<kid>", "keys": {"<kid>": "<base64 key>"}}'
        ) from None
    try:
        signer = TokenSigner(keys, active)
    except ValueError as exc:
        raise ConfigError(f"signing-keys secret: {exc}") from None
    if "notify" in doc:
        log.warning(
            'the signing-keys secret holds a "notify" key, which is no longer read: completion '
            "webhooks are signed per receiver (LAKEHOOK_NOTIFY_RECEIVERS_SECRET); remove it"
        )
    return SigningKeys(signer)


def parse_receivers(text: str) -> Receivers:
    """The receivers secret (see the module docstring)."""
    from lambda_resolver.delivery import Receivers

    try:
        return Receivers.parse(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


MIN_SECRET_CHARS = 32
MIN_DISTINCT_CHARS = 12
GENERATE = "generate one with `openssl rand -base64 32` (32 random bytes)"


def check_secret(what: str, value: str) -> str:
    """``value`` if it can be a secret of at least 32 random bytes, else ConfigError.

    A text secret cannot prove its randomness; this refuses what plainly is not random: under
    32 characters, or too few distinct characters (``aaaa…``, ``abcabc…``). The base64 of 32
    random bytes (44 characters) and their hex (64) pass. The HTTP password and the operator key
    guard the public URL, where guesses cost only requests: they must be out of reach.
    """
    if len(value) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"the {what} is {len(value)} characters; use at least {MIN_SECRET_CHARS}: {GENERATE}"
        )
    if len(set(value)) < MIN_DISTINCT_CHARS:
        raise ConfigError(f"the {what} repeats a few characters: it is not random; {GENERATE}")
    return value


def parse_basic(text: str) -> tuple[str, str]:
    """The webhook secret: ``(username, password)``; the password must be strong (check_secret)."""
    try:
        doc = json.loads(text)
        user, password = str(doc["username"]), str(doc["password"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError('the webhook secret must be JSON {"username": "...", "password": "..."}') from None
    if not user or ":" in user:
        raise ConfigError("the webhook secret's username must be non-empty and without ':'")
    return user, check_secret("webhook secret's password", password)


def parse_operator_key(text: str) -> str | None:
    """The operator key secret (plain text): None when empty, else a strong key (check_secret)."""
    key = text.strip()
    return check_secret("operator key", key) if key else None


class AwsConfig(NamedTuple):
    """Everything the handler needs, read from the environment; secrets are read on demand."""

    store: str  # a store URL (lambda_resolver.wiring)
    signing_secret: str
    databricks_secret: str
    databricks_host: str
    webhook_secret: str
    operator_secret: str
    notify_receivers_secret: str
    callback_url: str
    resonate_compat: bool
    timings: Mapping[str, int]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsConfig:
        env = os.environ if environ is None else environ
        missing = [n for n in ("LAKEHOOK_TABLE", "LAKEHOOK_SIGNING_KEYS_SECRET") if not env.get(n)]
        if env.get("LAKEHOOK_STORE"):
            missing = [n for n in missing if n != "LAKEHOOK_TABLE"]
        if missing:
            raise ConfigError(f"set {', '.join(missing)} (the SAM template does)")
        timings: dict[str, int] = {}
        for var, field, scale in (
            ("LAKEHOOK_CHECK_INTERVAL_S", "check_interval_ms", 1000),
            ("LAKEHOOK_DEFAULT_TASK_TIMEOUT_S", "default_task_timeout_s", 1),
            ("LAKEHOOK_SUCCESS_GRACE_S", "success_grace_ms", 1000),
            ("LAKEHOOK_STUCK_CLAIM_S", "stuck_claim_ms", 1000),
        ):
            if env.get(var):
                try:
                    timings[field] = int(float(env[var]) * scale)
                except ValueError:
                    raise ConfigError(f"{var} must be a number of seconds, got {env[var]!r}") from None
        if env.get("LAKEHOOK_FANOUT_INLINE"):
            raw = env["LAKEHOOK_FANOUT_INLINE"]
            if not raw.isdigit() or int(raw) < 1:
                raise ConfigError(f"LAKEHOOK_FANOUT_INLINE must be a whole number >= 1, got {raw!r}")
            timings["fanout_inline"] = int(raw)
        return cls(
            store=env.get("LAKEHOOK_STORE") or f"dynamodb://{env['LAKEHOOK_TABLE']}",
            signing_secret=env["LAKEHOOK_SIGNING_KEYS_SECRET"],
            databricks_secret=env.get("LAKEHOOK_DATABRICKS_SECRET", ""),
            databricks_host=env.get("DATABRICKS_HOST", ""),
            webhook_secret=env.get("LAKEHOOK_WEBHOOK_SECRET", ""),
            operator_secret=env.get("LAKEHOOK_OPERATOR_KEY_SECRET", ""),
            notify_receivers_secret=env.get("LAKEHOOK_NOTIFY_RECEIVERS_SECRET", ""),
            callback_url=env.get("LAKEHOOK_CALLBACK_URL", "").rstrip("/"),
            resonate_compat=env.get("LAKEHOOK_RESONATE_COMPAT", "0").lower() in ("1", "true", "yes"),
            timings=timings,
        )

    def databricks_config(self, secrets: SecretCache) -> dict[str, Any]:
        """Keyword arguments for the SDK's Config: host and PAT or OAuth M2M credentials."""
        from lambda_resolver.databricks.credentials import credentials_from_secret

        config: dict[str, Any] = {}
        if self.databricks_secret:
            try:
                config = dict(
                    credentials_from_secret(secrets.get(self.databricks_secret), self.databricks_host or None)
                )
            except ValueError as exc:
                raise ConfigError(f"Databricks secret: {exc}") from None
        if not config.get("host"):
            if not self.databricks_host:
                raise ConfigError('set DATABRICKS_HOST, or put "host" in the Databricks secret')
            config["host"] = self.databricks_host
        return config


def function_url(
    lambda_client_factory: Callable[[], Any], environ: Mapping[str, str], qualifier: str | None
) -> str:
    """The function's own URL, read with ``lambda:GetFunctionUrlConfig`` (scheduled passes)."""
    name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not name:
        raise ConfigError("LAKEHOOK_CALLBACK_URL is not set and this is not running in Lambda")
    kwargs: dict[str, Any] = {"FunctionName": name}
    if qualifier:
        kwargs["Qualifier"] = qualifier
    answer = lambda_client_factory().get_function_url_config(**kwargs)
    return str(answer["FunctionUrl"]).rstrip("/")
