"""The Lambda's launcher, built on first use.

A container that never starts, reads or cancels a Databricks run (one answering callbacks of
standalone promises, or of tasks that trigger nothing) never imports the launcher's modules:
``SdkLauncher`` and what it needs are imported by the first call that needs them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambda_resolver.core.launcher import Launched, RunStatus, TriggerRequest
    from lambda_resolver.core.run_output import RunOutput
    from lambda_resolver.databricks.launcher import SdkLauncher


class LazySdkLauncher:
    """An :class:`~lambda_resolver.databricks.launcher.SdkLauncher` of ``kwargs``, built by the
    first call (once, thread-safe); every method is the built launcher's."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._launcher: SdkLauncher | None = None
        self._lock = threading.Lock()

    def launcher(self) -> SdkLauncher:
        """The launcher, built on first use."""
        with self._lock:
            if self._launcher is None:
                from lambda_resolver.databricks.launcher import SdkLauncher

                self._launcher = SdkLauncher(**self._kwargs)
            return self._launcher

    def trigger(self, request: TriggerRequest) -> Launched:
        return self.launcher().trigger(request)

    def cancel(self, databricks_run_id: int) -> None:
        self.launcher().cancel(databricks_run_id)

    def get_run(self, databricks_run_id: int) -> RunStatus:
        return self.launcher().get_run(databricks_run_id)

    def get_output(self, databricks_run_id: int) -> RunOutput:
        return self.launcher().get_output(databricks_run_id)
