"""The local stack behind ``lakehook dev`` and ``lakehook demo``: the same resolver code as the
Lambda, on SQLite, with a loopback workspace that runs the bundle's jobs as local processes.

Everything listens on 127.0.0.1. State lives in ``state_dir`` (``.lakehook/`` by default): the
store, the workspace's runs and tokens, the signing key, per-run logs and the local volumes — so
a restart (even after a kill) picks up where it stopped, with no duplicate run.

One stack owns a state directory at a time (:func:`state_dir.lock_state_dir`). A stack that
cannot start (the directory is in use, the port is taken, the bundle does not compile)
removes the state directory again if it created it, so a refused start leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_resolver.local.state_dir import lock_state_dir, notify_secret, signing_key

log = logging.getLogger("lakehook.dev")

#: Timings for a laptop: look often, recover fast.
LOCAL_SETTINGS: dict[str, int] = {
    "stuck_claim_ms": 15_000,
    "check_interval_ms": 2_000,
    "propagate_grace_ms": 2_000,
    "success_grace_ms": 1_500,
    "run_watchdog_ms": 5_000,
    "queue_poll_ms": 1_000,
    # SQLite takes one writer at a time and the local workspace answers run-now in about a
    # millisecond: children of a fan-out start one after another here (docs/benchmarks.md §1b)
    "fanout_workers": 1,
}


@dataclass
class PublishReport:
    """What a publish changed: flow → new version, and flows left as they were."""

    published: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)


class LocalStack:
    """Resolver HTTP server + SQLite store + reconciler loop + local workspace, on loopback."""

    def __init__(
        self,
        bundle_root: Path | str = ".",
        state_dir: Path | str | None = None,
        *,
        port: int = 8765,
        target: str | None = None,
        variables: Mapping[str, str] | None = None,
        resonate_compat: bool = False,
        reconcile_interval_s: float = 0.5,
        settings: Mapping[str, int] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        explain_events: bool = False,
    ) -> None:
        self.bundle_root = Path(bundle_root).resolve()
        self.state_dir = Path(state_dir).resolve() if state_dir else self.bundle_root / ".lakehook"
        self.port = port
        self.target = target
        self.variables = dict(variables or {})
        self.resonate_compat = resonate_compat
        self.reconcile_interval_s = reconcile_interval_s
        self.settings = {**LOCAL_SETTINGS, **dict(settings or {})}
        self.on_event = on_event
        self.explain_events = explain_events  # add a failure's reason and a gate's promise to events
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.server: Any = None
        self.workspace: Any = None
        self.executor: Any = None
        self.engine: Any = None
        self.store: Any = None
        self.notify_secret = ""  # signs completion webhooks to loopback receivers (set on start)
        self._delivery: Any = None
        self._fanout: Any = None
        self._bundle_mtime = 0.0
        self._lock_fd: int | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        return str(self.server.url)

    def start(self) -> LocalStack:
        """Start everything and publish the bundle's flows. Returns once the resolver answers.

        Raises StateDirBusy when another stack runs on the state directory, OSError when the
        port is taken, CompileError when the bundle does not compile; each leaves no files."""
        created = not self.state_dir.exists()
        try:
            self._lock_fd = lock_state_dir(self.state_dir)
            return self._start()
        except BaseException:
            self.stop()
            if created:
                shutil.rmtree(self.state_dir, ignore_errors=True)
            raise

    def _start(self) -> LocalStack:
        from lambda_resolver.core.ids import TokenSigner
        from lambda_resolver.http import Services, create_app
        from lambda_resolver.http.local_server import serve
        from lambda_resolver.local import LocalWorkspace
        from lambda_resolver.local.subprocess_executor import SubprocessExecutor
        from lambda_resolver.wiring import open_store

        (self.state_dir / ".gitignore").write_text("*\n")
        self.store = open_store(f"sqlite:///{(self.state_dir / 'lakehook.db').resolve()}")
        self.notify_secret = notify_secret(self.state_dir)
        ws_token = secrets.token_urlsafe(24)
        self.executor = SubprocessExecutor(self.bundle_root, self.state_dir)
        self.workspace = LocalWorkspace(
            executor=self.executor, token=ws_token, state_path=self.state_dir / "workspace.db"
        ).start()
        signer = TokenSigner({"local": signing_key(self.state_dir)}, "local")
        hook_user, hook_password = "lakehook-local", secrets.token_urlsafe(16)
        services = Services(
            engine=lambda: self._engine(signer, ws_token),
            signer=signer,
            operator_open=True,
            webhook_credentials=(hook_user, hook_password),
            resonate_compat=self.resonate_compat,
            job_ids=lambda key: self.workspace.job_ids().get(key),
        )
        # Bind first (the port is the callback URL), publish, then answer: a caller that sees the
        # resolver up sees its flows too.
        self.server = serve(create_app(services), "127.0.0.1", self.port, start=False)
        assert self._lock_fd is not None
        os.write(self._lock_fd, f", {self.url}".encode())
        self.engine = services.get_engine()
        self.workspace.configure_webhooks(
            f"{self.url}/v1/webhooks/databricks", username=hook_user, password=hook_password
        )
        self.publish()
        self.server.start()
        self._spawn(self._reconcile_loop, "lakehook-reconciler")
        self._spawn(self._watch_bundle, "lakehook-bundle-watch")
        return self

    def _engine(self, signer: Any, ws_token: str) -> Any:
        from lambda_resolver.core.context import Settings
        from lambda_resolver.core.fanout import FanoutWorker
        from lambda_resolver.core.notifications import DeliveryWorker
        from lambda_resolver.databricks.launcher import SdkLauncher
        from lambda_resolver.delivery import HttpNotifier
        from lambda_resolver.http.documents import documents_of
        from lambda_resolver.wiring import build_engine

        engine = build_engine(
            store=self.store,
            launcher=SdkLauncher(config={"host": self.workspace.url, "token": ws_token}, retry_timeout_s=10),
            signer=signer,
            settings=Settings(callback_url=self.url, **self.settings),
            event=self._event,
        )
        # Completion webhooks go to loopback receivers, from a worker thread: never on a
        # callback's request path, never in the reconciler's way.
        engine.ctx.notifier = HttpNotifier(self.notify_secret, documents_of(engine))
        engine.ctx.dispatch = self._delivery = DeliveryWorker(engine.ctx)
        # A wide fan-out's later chunks go to a worker thread, as on AWS to another invocation.
        engine.ctx.handoff = self._fanout = FanoutWorker(engine.advancer)
        return engine

    def _event(self, name: str, fields: dict[str, Any]) -> None:
        log.debug("%s %s", name, fields)
        if self.on_event is None:
            return
        if self.explain_events and name in ("task_finished", "task_claimed"):
            fields = {**fields, **self._task_detail(name, fields)}
        self.on_event(name, fields)

    def _task_detail(self, name: str, fields: dict[str, Any]) -> dict[str, Any]:
        """What a person watching ``lakehook dev`` needs beyond the core's event: why a task
        failed, and that an external task now waits for an operator (its promise id)."""
        try:
            task = self.store.get_task(fields["run_id"], fields["task_key"])
            if task is None:
                return {}
            if name == "task_finished":
                return {"error": (task.error or {}).get("message")} if task.error else {}
            run = self.engine.get_run(task.run_id)
            spec = self.engine.manifest(run.flow, run.flow_version).task(task.key)
            if spec.kind.value == "external":
                return {"external": True, "promise_id": task.promise_id}
        except Exception as exc:  # an event line must never break the engine  # noqa: BLE001
            log.debug("no detail for %s: %s", name, exc)
        return {}

    # -- the bundle -------------------------------------------------------------------------------
    def publish(self) -> PublishReport:
        """Register the bundle's jobs with the workspace and publish every flow that changed."""
        from lambda_resolver.compiler import check_bundle, load_bundle
        from lambda_resolver.core.errors import CompileError
        from lambda_resolver.local.task_plan import localize_job_settings

        self._bundle_mtime = _bundle_mtime(self.bundle_root)
        variables = dict(self.variables)
        bundle = None
        if "data_root" not in variables:
            # Files the notebooks hand over land in the state directory, not in /Volumes, when the
            # bundle has a `data_root` variable (the sample bundle's convention). Without one, the
            # first read is the bundle: a 10,000-task bundle takes most of a minute to read.
            peek = load_bundle(self.bundle_root, self.target, variables, strict=False)
            if "data_root" in peek.variables or "data_root" in peek.unresolved_variables:
                variables["data_root"] = str(self.state_dir / "volumes")
            elif peek.problems:
                raise CompileError(list(peek.problems))
            else:
                bundle = peek
        if bundle is None:
            bundle = load_bundle(self.bundle_root, self.target, variables, strict=True)
        flows, problems = check_bundle(bundle)
        if problems:
            raise CompileError(problems)
        for key, job in bundle.jobs.items():
            if not job.is_flow:
                self.workspace.register_job(None, job.name, localize_job_settings(bundle, job), key=key)
        ids = self.workspace.job_ids()
        report = PublishReport()
        for name, manifest in sorted(flows.items()):
            candidate = manifest.with_job_ids(ids)
            current = self.store.get_flow(name)
            if current is not None and current.with_version(0) == candidate:
                report.unchanged[name] = current.version
                continue
            report.published[name] = self.engine.publish(candidate).version
        return report

    def _watch_bundle(self) -> None:
        from lambda_resolver.core.errors import CompileError

        while not self._stop.wait(1.0):
            mtime = _bundle_mtime(self.bundle_root)
            if mtime == self._bundle_mtime:
                continue
            try:
                report = self.publish()
            except CompileError as exc:
                self._bundle_mtime = mtime
                log.warning(
                    "the bundle changed but does not compile; kept the published flows:\n%s", exc.message
                )
                continue
            if report.published:
                self._event("flows_published", {"flows": report.published})

    # -- the reconciler loop ----------------------------------------------------------------------
    def _reconcile_loop(self) -> None:
        from lambda_resolver.core.errors import LakehookError

        while not self._stop.wait(self.reconcile_interval_s):
            try:
                for _ in range(100):
                    if not self.engine.reconcile():
                        break
            except (LakehookError, OSError) as exc:
                log.warning("reconciler pass failed, trying again: %s", exc)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop cleanly: the loops, the notebooks' processes, the servers, the store (once)."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        if self._delivery is not None:
            self._delivery.close()
        if self._fanout is not None:
            self._fanout.close()
        # The workspace's state file closes first: the executor's close cancels active runs, and a
        # clean stop must leave them to be resumed on the next start, as a kill does.
        if self.workspace is not None:
            self.workspace.close()
        if self.executor is not None:
            self.executor.close()
        if self.server is not None:
            self.server.close()
        if self.store is not None:
            self.store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock; the file stays (deleting it would race)
            self._lock_fd = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bundle_mtime(root: Path) -> float:
    newest = 0.0
    for pattern in ("databricks.yml", "bundles/**/*.yml", "bundles/**/*.yaml"):
        for path in root.glob(pattern):
            newest = max(newest, path.stat().st_mtime)
    return newest
