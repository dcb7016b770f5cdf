"""The engine: the core's public face. Start and stop flow runs, settle promises, reconcile.

The edges (Lambda handler, local server, CLI) call these methods and map errors; the engine
knows nothing of HTTP, Lambda, boto3 or Databricks. Its parts each own one responsibility:
``runs`` (a run's life), ``settle`` (promises), ``advance`` (tasks), ``reconcile`` (the
safety net); every state they change is written by ``transitions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.context import Context, log
from lambda_resolver.core.errors import LakehookError, NotFound
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import JSON, Promise, PromiseState, Run, RunState, RunTrigger, Task
from lambda_resolver.core.settle import Settled, Settler, check_value_size, promise_document
from lambda_resolver.core.standalone import Standalone

if TYPE_CHECKING:
    from lambda_resolver.core.advance import Advancer
    from lambda_resolver.core.history import RunPage
    from lambda_resolver.core.iterations import Iteration, Loop
    from lambda_resolver.core.reconcile import Reconciler
    from lambda_resolver.core.repair import Repairer
    from lambda_resolver.core.runs import RunLife
    from lambda_resolver.core.scheduler import Scheduler


class Engine:
    """Durable promises and flow runs over a store and a launcher."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.standalone = Standalone(ctx)
        self.settler = Settler(ctx, lambda: self.advancer, self.standalone)

    # The parts a callback may never use are imported on first use: a fresh Lambda answering a
    # callback pays only for settling, and for advancing when the promise is a flow task's
    # (bench/aws_cold_start.py; tests/bench/test_bench_smoke.py names what stays off its path).
    @cached_property
    def advancer(self) -> Advancer:
        from lambda_resolver.core.advance import Advancer

        return Advancer(self.ctx)

    @cached_property
    def runs(self) -> RunLife:
        from lambda_resolver.core.runs import RunLife

        return RunLife(self.ctx, self.advancer)

    @cached_property
    def reconciler(self) -> Reconciler:
        from lambda_resolver.core.reconcile import Reconciler

        return Reconciler(self.ctx, self.advancer, self.standalone)

    @cached_property
    def repairs(self) -> Repairer:
        from lambda_resolver.core.repair import Repairer

        return Repairer(self.ctx, self.advancer)

    @cached_property
    def schedules(self) -> Scheduler:
        from lambda_resolver.core.scheduler import Scheduler

        return Scheduler(self.ctx)

    # -- flows ---------------------------------------------------------------------------------
    def publish(self, manifest: FlowManifest, *, production: bool = False) -> FlowManifest:
        """Store a compiled flow as its next version (runs already started keep theirs), and
        bring its schedule record in step: a first schedule starts active only when
        ``production`` (the target is ``mode: production``); later publishes keep the switch."""
        stored = self.ctx.store.put_flow(manifest)
        self.schedules.on_publish(stored, production=production)
        return stored

    def list_flows(self) -> list[FlowManifest]:
        """The latest version of every published flow."""
        return self.ctx.store.list_flows()

    def get_flow(self, name: str, version: int | None = None) -> FlowManifest | None:
        """A flow version (the latest when ``version`` is None), or None."""
        return self.ctx.store.get_flow(name, version)

    def manifest(self, name: str, version: int | None = None) -> FlowManifest:
        """A flow version, cached (versions are immutable); UnknownFlow if it does not exist."""
        return self.ctx.manifest(name, version)

    # -- runs ----------------------------------------------------------------------------------
    def start_run(
        self,
        flow: str,
        *,
        run_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        notify_url: str | None = None,
        trigger: RunTrigger | None = None,
    ) -> tuple[Run, bool]:
        """Start a flow run, idempotently by ``run_id`` (see :meth:`RunLife.start`); ``trigger``
        says what started it (a schedule slot; manual when None)."""
        return self.runs.start(flow, run_id=run_id, params=params, notify_url=notify_url, trigger=trigger)

    def admit(self, run: Run) -> Run | None:
        """Move a PENDING run to RUNNING once it holds a concurrency slot, and start its roots."""
        return self.runs.admit(run)

    def stop_run(self, run_id: str, reason: str = RunState.CANCELED.value) -> Run:
        """Cancel (or time out) a run; a run that already ended is left as it ended."""
        return self.runs.stop(run_id, reason)

    def repair_run(
        self,
        run_id: str,
        rerun_tasks: Sequence[str] | None = None,
        *,
        rerun_all_failed_tasks: bool = False,
        rerun_dependent_tasks: bool = False,
        latest_repair_id: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Run:
        """Rerun what did not succeed in a run that ended, as Databricks' "Repair run" (DESIGN §9)."""
        return self.repairs.repair(
            run_id,
            rerun_tasks=rerun_tasks,
            rerun_all_failed_tasks=rerun_all_failed_tasks,
            rerun_dependent_tasks=rerun_dependent_tasks,
            latest_repair_id=latest_repair_id,
            params=params,
        )

    def get_run(self, run_id: str) -> Run:
        run = self.ctx.store.get_run(run_id)
        if run is None:
            raise NotFound(f"run '{run_id}' does not exist")
        return run

    def list_runs(
        self,
        *,
        flow: str | None = None,
        state: RunState | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RunPage:
        """A page of runs, newest first, without their tasks; ``cursor`` continues a page."""
        from lambda_resolver.core.history import page, position_of

        before = position_of(cursor) if cursor else None
        return page(self.ctx.store.list_runs(flow=flow, state=state, limit=limit + 1, before=before), limit)

    def get_task(self, run_id: str, task_key: str) -> Task | None:
        """One task of a run, or None."""
        return self.ctx.store.get_task(run_id, task_key)

    def list_tasks(self, run_id: str) -> list[Task]:
        """Every task of a run (documents and cancellation; a settle never reads this)."""
        return self.ctx.store.list_tasks(run_id)

    def get_loop(self, run_id: str, task_key: str, attempt: int) -> Loop | None:
        """A for_each task's loop at one attempt (its inputs and counters), or None."""
        return self.ctx.store.get_loop(run_id, task_key, attempt)

    def list_iterations(
        self, run_id: str, task_key: str, attempt: int, *, start: int = 0, limit: int = 100
    ) -> list[Iteration]:
        """A page of a loop's claimed iterations, by index (a range read)."""
        return list(self.ctx.store.list_iterations(run_id, task_key, attempt, start=start, limit=limit))

    # -- promises ------------------------------------------------------------------------------
    def settle(
        self,
        promise_id: str,
        state: PromiseState,
        *,
        value: JSON = None,
        error: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        token_nonce: str | None = None,
    ) -> Settled:
        """Settle a promise strictly (DESIGN §3) and advance whatever waits on it; a callback
        passes its token's ``token_nonce``, which must be the promise's own."""
        return self.settler.settle(
            promise_id,
            state,
            value=value,
            error=error,
            idempotency_key=idempotency_key,
            token_nonce=token_nonce,
        )

    def heartbeat(
        self, promise_id: str, extend_s: int | None = None, *, token_nonce: str | None = None
    ) -> Promise:
        """Push a pending promise's deadline out (never in, never past its cap). A timed-out
        promise answers 409."""
        return self.settler.heartbeat(promise_id, extend_s, token_nonce=token_nonce)

    def get_promise(self, promise_id: str) -> Promise:
        p = self.ctx.store.get_promise(promise_id)
        if p is None:
            raise NotFound(f"promise '{promise_id}' does not exist")
        return p

    # -- signals from Databricks and the clock ---------------------------------------------------
    def on_databricks_run(self, databricks_run_id: int) -> Promise | None:
        """A job notification for a run: never trust it, re-read the run and settle from that."""
        p = self.ctx.store.promise_by_databricks_run(databricks_run_id)
        if p is None:
            return None
        if p.state is PromiseState.PENDING:
            self.reconciler.check_databricks_run(p, self)
        return self.ctx.store.get_promise(p.id)

    def reconcile(self, limit: int = 100) -> dict[str, int]:
        """One pass of the safety net over the due index. Returns counts by what was done."""
        return self.reconciler.run_once(self, limit)


__all__ = [
    "Engine",
    "LakehookError",
    "Settled",
    "check_value_size",
    "log",
    "promise_document",
]
