"""SnapStart: what the first event imports, preloaded into the snapshot.

Modules only: nothing is built, so no client, secret or random state is shared by restored
environments. On-demand cold starts import lazily, as before.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

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
    "lambda_resolver.delivery",
    "lambda_resolver.databricks.launcher",
    "databricks.sdk",  # ~2 s of imports: in the snapshot, not in a triggering request
)


def preload_for_snapshot(environ: Mapping[str, str] | None = None) -> list[str]:
    """Import :data:`SNAPSHOT_MODULES` when Lambda is initialising a SnapStart snapshot
    (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``), so a restored container's first request does
    not pay for them. Returns what was imported."""
    env = os.environ if environ is None else environ
    if env.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return []
    for name in SNAPSHOT_MODULES:
        importlib.import_module(name)
    return list(SNAPSHOT_MODULES)
