"""The real launcher: the core's Launcher protocol on databricks-sdk.

The SDK is imported inside the methods only — ``import databricks.sdk`` costs ~2 s — and the
``WorkspaceClient`` is built on first use, once, because building it already calls the
workspace (``/.well-known/databricks-config``). Its ``retry_timeout_seconds`` is small
(20 s by default, against the SDK's 300 s) so one call cannot eat a Lambda's timeout: the SDK
re-sends on 429/503/connection errors within that budget, and ``run_now`` always carries the
idempotency token, so a re-send never starts a second run.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.errors import LaunchError
from lambda_resolver.core.launcher import Launched, RunStatus, TriggerRequest
from lambda_resolver.databricks.run_state import ENDED, decode_output, life_result_message, output_task_ids

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from lambda_resolver.core.run_output import RunOutput

log = logging.getLogger("lakehook.databricks")

_SECRET_KEYS = ("token", "client_secret", "password")


class SdkLauncher:
    """Triggers, reads and cancels Databricks job runs through ``WorkspaceClient``.

    Credentials come from the SDK's unified auth — ``DATABRICKS_HOST`` with ``DATABRICKS_TOKEN``,
    or OAuth M2M ``DATABRICKS_CLIENT_ID``/``DATABRICKS_CLIENT_SECRET`` — or from ``config``
    (extra ``Config`` fields, e.g. :func:`credentials_from_secret`'s result); ``host``
    overrides the host. ``client_factory`` replaces all of that (it is still called once).
    """

    def __init__(
        self,
        client_factory: Callable[[], WorkspaceClient] | None = None,
        *,
        host: str | None = None,
        config: Mapping[str, Any] | None = None,
        retry_timeout_s: int = 20,
        http_timeout_s: float = 10.0,
    ) -> None:
        self._factory = client_factory
        self._config = dict(config or {})
        if host is not None:
            self._config["host"] = host
        self.retry_timeout_s = retry_timeout_s
        self.http_timeout_s = http_timeout_s
        self._client: WorkspaceClient | None = None
        self._host = ""
        self._lock = threading.Lock()

    # -- the client --------------------------------------------------------------------------------
    def client(self) -> WorkspaceClient:
        """The ``WorkspaceClient``, built on first use (thread-safe, once)."""
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                try:
                    built = self._factory() if self._factory is not None else self._build()
                except Exception as exc:  # bad configuration (ValueError) is permanent  # noqa: BLE001
                    msg = self._scrub(f"cannot build the Databricks client: {exc}")
                    raise LaunchError(msg, permanent=isinstance(exc, ValueError)) from None
                self._host = str(getattr(built.config, "host", "") or "").rstrip("/")
                self._client = built
            return self._client

    def _build(self) -> WorkspaceClient:
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        from lambda_resolver import __version__

        fields: dict[str, Any] = {
            "retry_timeout_seconds": self.retry_timeout_s,
            "http_timeout_seconds": self.http_timeout_s,
        }
        fields.update(self._config)
        cfg = Config(product="lakehook", product_version=__version__, **fields)
        return WorkspaceClient(config=cfg)

    # -- Launcher ----------------------------------------------------------------------------------
    def trigger(self, request: TriggerRequest) -> Launched:
        """``run_now`` with the request's job parameters and idempotency token; the run id comes
        from the response (the returned waiter is never waited on)."""
        w = self.client()
        try:
            waiter = w.jobs.run_now(
                job_id=request.job_id,
                job_parameters=dict(request.parameters),
                idempotency_token=request.idempotency_token,
            )
            run_id = int(waiter.run_id)
        except Exception as exc:  # mapped to permanent/transient in one place
            raise self._error(exc, f"run-now of job {request.job_id}") from exc
        return Launched(run_id, self.run_page_url(request.job_id, run_id))

    def cancel(self, databricks_run_id: int) -> None:
        """``runs/cancel``; a run that already ended or does not exist is not an error."""
        from databricks.sdk import errors

        w = self.client()
        try:
            w.jobs.cancel_run(databricks_run_id)
        except (errors.NotFound, errors.InvalidParameterValue, errors.InvalidState):
            log.info("cancel of Databricks run %s: it is gone or already ended", databricks_run_id)
        except Exception as exc:
            raise self._error(exc, f"cancel of run {databricks_run_id}") from exc

    def get_run(self, databricks_run_id: int) -> RunStatus:
        """``runs/get``, and once the run ended SUCCESS its notebook exit value from
        ``runs/get-output`` of its task run (see ``run_state.output_task_ids``)."""
        w = self.client()
        try:
            run = w.jobs.get_run(databricks_run_id)
        except Exception as exc:
            raise self._error(exc, f"runs/get of run {databricks_run_id}") from exc
        life, result, message = life_result_message(run)
        output = self._output(w, run) if life in ENDED and result == "SUCCESS" else None
        url = run.run_page_url or self.run_page_url(run.job_id, databricks_run_id)
        return RunStatus(life, result, message, output, url, int(run.end_time or 0) or None)

    def get_output(self, databricks_run_id: int) -> RunOutput:
        """``runs/get``, then ``runs/get-output`` of each task run that ended: its error, trace and
        logs (what a person reads when a task failed). A task run still going has no output yet."""
        from databricks.sdk import errors

        from lambda_resolver.core.run_output import RunOutput, TaskOutput

        w = self.client()
        try:
            run = w.jobs.get_run(databricks_run_id)
        except Exception as exc:
            raise self._error(exc, f"runs/get of run {databricks_run_id}") from exc
        life, result, message = life_result_message(run)
        tasks: list[TaskOutput] = []
        for task in run.tasks or []:
            t_life, t_result, t_message = life_result_message(task)
            base = TaskOutput(str(task.task_key), int(task.run_id or 0), t_life, t_result, t_message)
            if t_life not in ENDED or not task.run_id:
                tasks.append(base)
                continue
            try:
                out = w.jobs.get_run_output(task.run_id)
            except (errors.NotFound, errors.BadRequest) as exc:  # deleted, or never ran
                log.info("no output for task run %s: %s", task.run_id, exc)
                tasks.append(base)
                continue
            except Exception as exc:
                raise self._error(exc, f"runs/get-output of task run {task.run_id}") from exc
            tasks.append(
                dataclasses.replace(
                    base,
                    error=out.error,
                    error_trace=out.error_trace,
                    logs=out.logs,
                    logs_truncated=bool(out.logs_truncated),
                )
            )
        url = run.run_page_url or self.run_page_url(run.job_id, databricks_run_id)
        return RunOutput(life, result, message, url, tuple(tasks))

    def run_page_url(self, job_id: int | None, run_id: int) -> str | None:
        """The run's page in the workspace UI."""
        if not self._host or job_id is None:
            return None
        return f"{self._host}/jobs/{job_id}/runs/{run_id}"

    # -- internals ---------------------------------------------------------------------------------
    def _output(self, w: WorkspaceClient, run: Any) -> Any:
        from databricks.sdk import errors

        for task_run_id in output_task_ids(run):
            try:
                out = w.jobs.get_run_output(task_run_id)
            except (errors.NotFound, errors.BadRequest) as exc:  # deleted, or not a notebook run
                log.warning("no output for task run %s: %s", task_run_id, exc)
                continue
            except Exception as exc:  # throttled, 5xx, network: the reconciler reads it again
                raise self._error(exc, f"runs/get-output of task run {task_run_id}") from exc
            notebook = out.notebook_output
            if notebook is not None and notebook.result is not None:
                return decode_output(str(notebook.result))
        return None

    def _error(self, exc: Exception, what: str) -> LaunchError:
        """The one place SDK failures become LaunchError: the request is wrong (400/403/404/409,
        bad configuration) → permanent; throttling, 5xx, retries exhausted, network → transient."""
        from databricks.sdk import errors
        from databricks.sdk.errors.base import DatabricksError

        transient: tuple[type[BaseException], ...] = (
            errors.TooManyRequests,
            errors.TemporarilyUnavailable,
            errors.InternalError,
            errors.DeadlineExceeded,
            errors.Cancelled,
            errors.Unauthenticated,  # an expired or rotating credential: retry, do not fail tasks
            errors.Aborted,  # a 409 from a concurrent change inside Databricks
        )
        permanent_kinds: tuple[type[BaseException], ...] = (
            errors.BadRequest,
            errors.NotFound,
            errors.PermissionDenied,
            errors.ResourceConflict,
            errors.NotImplemented,
        )
        if isinstance(exc, DatabricksError):
            permanent = isinstance(exc, permanent_kinds) and not isinstance(exc, transient)
            detail = f"{type(exc).__name__}: {exc}"
        elif isinstance(exc, TimeoutError):
            permanent, detail = False, f"gave up after the {self.retry_timeout_s}s retry budget ({exc})"
        elif isinstance(exc, ValueError):
            permanent, detail = True, f"{type(exc).__name__}: {exc}"
        else:  # connection errors, RuntimeError("Exceeded max retry attempts"), anything else
            permanent, detail = False, f"{type(exc).__name__}: {exc}"
        return LaunchError(self._scrub(f"{what}: {detail}"), permanent=permanent)

    def _scrub(self, text: str) -> str:
        """Never let a credential reach a message."""
        for key in _SECRET_KEYS:
            secret = self._config.get(key)
            if isinstance(secret, str) and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text
