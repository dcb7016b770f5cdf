"""Databricks credentials from a stored secret: ``Config`` fields for the launcher.

Apart from the launcher so that reading them (each Lambda container does, when it builds its
engine) does not import the launcher's modules.
"""

from __future__ import annotations

import json


def credentials_from_secret(secret_json: str, host: str | None = None) -> dict[str, str]:
    """``Config`` fields from a stored secret (AWS Secrets Manager or SSM JSON):
    ``{"host", "token"}`` (a PAT) or ``{"host", "client_id", "client_secret"}`` (OAuth M2M).
    Keys may also be spelled like the environment (``DATABRICKS_HOST``); without a host in the
    secret, ``host`` (e.g. the DATABRICKS_HOST variable) is used. Pass the result as
    ``SdkLauncher(config=...)``. Errors never echo the secret."""
    try:
        raw = json.loads(secret_json)
    except ValueError:
        raise ValueError("the Databricks secret is not valid JSON") from None
    if not isinstance(raw, dict):
        raise ValueError("the Databricks secret must be a JSON object")  # noqa: TRY004 — one error type
    data = {str(k).lower().removeprefix("databricks_"): v for k, v in raw.items()}
    fields = {k: str(data[k]).strip() for k in ("host", "token", "client_id", "client_secret") if data.get(k)}
    if "host" not in fields and host:
        fields["host"] = host.strip()
    if "host" not in fields:
        raise ValueError("the Databricks secret has no 'host' (and DATABRICKS_HOST is not set)")
    fields["host"] = fields["host"].rstrip("/")
    has_token, has_client = "token" in fields, "client_id" in fields and "client_secret" in fields
    if has_token and has_client:
        raise ValueError("the Databricks secret has both 'token' and 'client_id'/'client_secret': keep one")
    if has_token:
        return {"host": fields["host"], "token": fields["token"]}
    if has_client:
        return {k: fields[k] for k in ("host", "client_id", "client_secret")}
    raise ValueError("the Databricks secret needs 'token', or 'client_id' and 'client_secret'")
