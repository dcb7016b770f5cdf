"""The local stack's Databricks: a loopback workspace that databricks-sdk talks to as to a real one.

``LocalWorkspace`` answers the Jobs API calls the resolver makes; an ``Executor`` runs what is
triggered (``ManualExecutor`` and ``CallbackExecutor`` for tests; the notebook subprocess
executor for ``lakehook dev``). Nothing here imports databricks-sdk.
"""

from __future__ import annotations

from lambda_resolver.local.executors import CallbackExecutor, Executor, ManualExecutor
from lambda_resolver.local.faults import Fault, Faults
from lambda_resolver.local.job_notifications import WebhookTarget
from lambda_resolver.local.jobs import ApiError
from lambda_resolver.local.runs import LocalRun, LocalTask, RunReporter
from lambda_resolver.local.workspace import LocalWorkspace

__all__ = [
    "ApiError",
    "CallbackExecutor",
    "Executor",
    "Fault",
    "Faults",
    "LocalRun",
    "LocalTask",
    "LocalWorkspace",
    "ManualExecutor",
    "RunReporter",
    "WebhookTarget",
]
