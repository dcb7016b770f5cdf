"""Repairing a run that ended: rerun what did not succeed, in the same run (DESIGN §9).

``repair_plan`` says which tasks rerun; this module applies it, crash-safe in three steps:

1. one conditional write moves the final run back to RUNNING — only while its
   ``latest_repair_id`` is the one the caller saw, so of two repairs at once exactly one starts —
   and records the plan (each task to reset, in the state and at the attempt the plan saw), the
   new counters, parameters and repair id;
2. each planned task is reset to WAITING by a conditional write (still in that state, at that
   attempt), dependents first; the reset moves its attempt on, so it applies at most once;
3. the reset tasks are driven (the ones with nothing to wait for start), and the plan is marked
   applied.

A crash anywhere leaves the plan on a RUNNING run, due: the reconciler applies it again
(:meth:`Repairer.apply`), idempotently, and the run goes on as any other — its result derived
again when its last open task finishes, and its ``notify_url`` told again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from lambda_resolver.core import repair_plan
from lambda_resolver.core.advance import Advancer
from lambda_resolver.core.context import Context
from lambda_resolver.core.errors import BadRequest, ConcurrencyLimit, NotFound, RepairConflict, StoreConflict
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import Run, RunState, TaskState

#: What a reset clears: the task starts its next attempt as if it had never finished.
_CLEARED = {
    "promise_id": None,
    "value": None,
    "error": None,
    "outcome": None,
    "databricks_run_id": None,
    "run_page_url": None,
    "triggered_at": None,
    "settled_at": None,
    "due_at": None,
    "propagated": False,
}


class Repairer:
    """Start repairs and finish applying them."""

    def __init__(self, ctx: Context, advancer: Advancer) -> None:
        self.ctx = ctx
        self.advancer = advancer

    def repair(
        self,
        run_id: str,
        *,
        rerun_tasks: Sequence[str] | None = None,
        rerun_all_failed_tasks: bool = False,
        rerun_dependent_tasks: bool = False,
        latest_repair_id: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Run:
        """Repair a run that ended (see the module doc). 409 while it runs, with a missing or
        stale ``latest_repair_id``, or with nothing to rerun; 400 for unknown tasks or parameters."""
        ctx = self.ctx
        run = ctx.store.get_run(run_id)
        if run is None:
            raise NotFound(f"run '{run_id}' does not exist")
        if not run.state.final:
            raise RepairConflict(
                f"run '{run_id}' is {run.state.value}: only a run that has ended can be repaired "
                "(wait for it, or cancel it first)",
                details={"state": run.state.value},
            )
        _check_repair_id(run, latest_repair_id)
        manifest = ctx.manifest(run.flow, run.flow_version)
        merged = _merged_params(manifest, run, params or {})
        tasks = ctx.store.list_tasks(run_id)
        by_key = {t.key: t for t in tasks}
        request = repair_plan.RepairRequest(
            tuple(rerun_tasks or ()), rerun_all_failed_tasks, rerun_dependent_tasks
        )
        keys = repair_plan.select(manifest, run, by_key, request)
        if not ctx.store.acquire_slot(run.flow, run_id, manifest.max_concurrent_runs):
            raise ConcurrencyLimit(
                f"flow '{run.flow}' already has {manifest.max_concurrent_runs} active run(s) "
                "(max_concurrent_runs); repair once one has ended"
            )
        now = ctx.now()
        repair_id = run.repair_count + 1
        plan = {
            "id": repair_id,
            "tasks": {k: [by_key[k].state.value, by_key[k].attempt] for k in sorted(keys)},
            "applied": False,
        }
        changes: dict[str, Any] = {
            **repair_plan.counters(manifest, tasks, keys),
            "repair_count": repair_id,
            "latest_repair_id": repair_id,
            "repair": plan,
            "params": merged,
            "ended_at": None,
            "stop_reason": None,
            "notified_at": None,
            "notify_attempts": 0,
            "deadline_at": now + manifest.timeout_seconds * 1000 if manifest.timeout_seconds else None,
            # due while the plan is applied: a crash before it is done leaves it to the reconciler
            "due_at": now + ctx.settings.stuck_claim_ms,
        }
        try:
            started = ctx.writes.begin_repair(run_id, changes, repair_id_was=run.latest_repair_id)
        except StoreConflict as exc:
            current = exc.current
            assert isinstance(current, Run)
            if current.state.final:  # not repaired after all: the slot taken above is not held
                ctx.store.release_slot(run.flow, run_id)
            raise RepairConflict(
                f"run '{run_id}' was repaired meanwhile (latest_repair_id {current.latest_repair_id}, "
                f"now {current.state.value}); look at it again before repairing",
                details={"latest_repair_id": current.latest_repair_id},
            ) from None
        ctx.event(
            "run_repaired",
            {"run_id": run_id, "repair_id": repair_id, "tasks": sorted(keys), "flow": run.flow},
        )
        return self.apply(started)

    def apply(self, run: Run) -> Run:
        """Reset the plan's tasks, drive them, and mark the plan applied. Idempotent: a task
        reset already (or moved on since) loses its condition and is left as it is."""
        ctx = self.ctx
        plan = run.repair
        if run.state is not RunState.RUNNING or not plan or plan.get("applied"):
            return run
        manifest = ctx.manifest(run.flow, run.flow_version)
        planned = repair_plan.planned(run)
        order = repair_plan.reset_order(manifest, planned)
        for key in order:
            state, attempt = planned[key]
            changes = {**_CLEARED, "attempt": attempt + 1, "retry_base": attempt}
            drop = repair_plan.dropped_edges(manifest, key, planned)
            with contextlib.suppress(StoreConflict):
                ctx.writes.reset_task(run.run_id, key, TaskState(state), attempt, changes, drop_edges=drop)
        for key in reversed(order):  # parents first: the roots of the repair start
            self.advancer.drive(run, key)
        now = ctx.now()
        due = now + ctx.settings.run_watchdog_ms
        if run.deadline_at is not None:
            due = min(due, run.deadline_at)
        with contextlib.suppress(StoreConflict):  # it finished already: nothing left to mark
            ctx.writes.set_run_fields(
                run.run_id, {"repair": {**plan, "applied": True}, "due_at": due}, while_in=RunState.RUNNING
            )
        after = ctx.store.get_run(run.run_id)
        assert after is not None
        if after.state is RunState.RUNNING and after.open_leaves <= 0:
            return self.advancer.finalize(after) or after  # every rerun task was skipped at once
        return after


def _check_repair_id(run: Run, given: int | None) -> None:
    """As Databricks: the first repair names none; every later one the latest it saw."""
    if run.latest_repair_id is None:
        if given is not None:
            raise RepairConflict(
                f"run '{run.run_id}' has never been repaired: leave latest_repair_id out",
                details={"latest_repair_id": None},
            )
        return
    if given is None:
        raise RepairConflict(
            f"run '{run.run_id}' was repaired before: give latest_repair_id "
            f"{run.latest_repair_id} (the latest repair you saw)",
            details={"latest_repair_id": run.latest_repair_id},
        )
    if given != run.latest_repair_id:
        raise RepairConflict(
            f"latest_repair_id {given} is stale: the latest repair of run '{run.run_id}' is "
            f"{run.latest_repair_id}; look at the run again before repairing",
            details={"latest_repair_id": run.latest_repair_id},
        )


def _merged_params(manifest: FlowManifest, run: Run, given: Mapping[str, Any]) -> dict[str, str]:
    """The run's parameters with ``given`` over them (Databricks' job_parameters on a repair)."""
    declared = manifest.parameter_defaults
    unknown = sorted(set(given) - set(declared))
    if unknown:
        names = ", ".join(sorted(declared)) or "none"
        raise BadRequest(
            f"flow '{manifest.name}' has no parameter(s) {', '.join(unknown)}; it declares: {names}"
        )
    out = dict(run.params)
    for k, v in given.items():
        out[k] = v if isinstance(v, str) else json.dumps(v)
    return out
