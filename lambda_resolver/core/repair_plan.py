"""What a repair reruns, and what the run counts again, as pure functions (DESIGN §9).

Databricks' "Repair run" (``POST /api/2.2/jobs/runs/repair``), with the same field meanings:

- ``rerun_tasks`` names the tasks; ``rerun_all_failed_tasks`` takes every task that did not
  succeed (only one of the two); with neither, every task that did not succeed;
- the dependents of a rerun task that did not succeed (UPSTREAM_FAILED, UPSTREAM_CANCELED,
  EXCLUDED, CANCELED, FAILED, TIMEDOUT) rerun with it, so a skipped task is evaluated again;
  with ``rerun_dependent_tasks`` its dependents that succeeded rerun too;
- every other task keeps its state and value and is not run again.

A repaired run is open until each *sink* of the repair — a rerun task none of whose dependents
rerun — has finished, so ``open_leaves`` counts those; the run's result is still decided by the
flow's leaves (``task_machine.run_result``), the ones kept and the ones rerun.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, NamedTuple

from lambda_resolver.core import task_machine as tm
from lambda_resolver.core.errors import BadRequest, RepairConflict
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import Run, RunState, Task, TaskState

T = TaskState

#: A task that did not succeed: what a repair reruns by default, and which dependents rerun.
NOT_SUCCEEDED = frozenset({T.FAILED, T.TIMEDOUT, T.CANCELED, T.UPSTREAM_FAILED, T.UPSTREAM_CANCELED})
_RERUN_DEPENDENTS = NOT_SUCCEEDED | {T.EXCLUDED}


class RepairRequest(NamedTuple):
    """The body of a repair, as Databricks names its fields."""

    rerun_tasks: tuple[str, ...] = ()
    rerun_all_failed_tasks: bool = False
    rerun_dependent_tasks: bool = False


def select(manifest: FlowManifest, run: Run, tasks: Mapping[str, Task], req: RepairRequest) -> set[str]:
    """The tasks the repair resets: the chosen ones and their dependents (see the module doc).

    BadRequest for unknown keys or both ways of choosing; RepairConflict when there is nothing
    to repair, or a SUCCESS run is repaired without naming tasks."""
    if req.rerun_tasks and req.rerun_all_failed_tasks:
        raise BadRequest("give either rerun_tasks or rerun_all_failed_tasks, not both")
    if req.rerun_tasks:
        unknown = sorted({k for k in req.rerun_tasks if k not in tasks})
        if unknown:
            known = ", ".join(sorted(tasks))
            raise BadRequest(
                f"flow '{run.flow}' has no task(s) {', '.join(unknown)}; its tasks: {known}",
                details={"unknown_tasks": unknown},
            )
        chosen = set(req.rerun_tasks)
    else:
        if run.state is RunState.SUCCESS:
            raise RepairConflict(
                f"run '{run.run_id}' succeeded: name the tasks to run again (rerun_tasks, or --task)"
            )
        chosen = {k for k, t in tasks.items() if t.state in NOT_SUCCEEDED}
        if not chosen:
            raise RepairConflict(
                f"run '{run.run_id}' has no task that did not succeed; name the tasks to rerun"
            )
    return _with_dependents(manifest, tasks, chosen, everything=req.rerun_dependent_tasks)


def _with_dependents(
    manifest: FlowManifest, tasks: Mapping[str, Task], chosen: set[str], *, everything: bool
) -> set[str]:
    out = set(chosen)
    work = list(chosen)
    while work:
        for child in manifest.children(work.pop()):
            t = tasks.get(child)
            if child in out or t is None:
                continue
            if everything or t.state in _RERUN_DEPENDENTS:
                out.add(child)
                work.append(child)
    return out


def reset_order(manifest: FlowManifest, keys: Collection[str]) -> list[str]:
    """``keys`` with every task after all of its dependents among them. Resetting in this order
    means a reset task that starts again (whoever drives it) always finds the dependents it
    delivers to already reset, so no delivery of its new outcome is lost."""
    order: list[str] = []
    seen: set[str] = set()
    for root in sorted(keys):
        if root in seen:
            continue
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            key, done = stack.pop()
            if done:
                order.append(key)
                continue
            if key in seen:
                continue
            seen.add(key)
            stack.append((key, True))
            stack.extend((c, False) for c in manifest.children(key) if c in keys and c not in seen)
    return order


def dropped_edges(manifest: FlowManifest, key: str, keys: Collection[str]) -> list[str]:
    """The parents of ``key`` that rerun: their delivered outcomes are taken back."""
    return [d.task_key for d in manifest.task(key).depends_on if d.task_key in keys]


def is_sink(manifest: FlowManifest, keys: Collection[str], key: str) -> bool:
    """Whether ``key`` reruns and none of its dependents does: the run waits for it to finish."""
    return key in keys and not any(c in keys for c in manifest.children(key))


def counters(manifest: FlowManifest, tasks: Iterable[Task], keys: Collection[str]) -> dict[str, Any]:
    """The run's counters once ``keys`` are reset: the repair's sinks are open; the kept leaves
    and kept failures count as they did."""
    failed = canceled = 0
    any_failed = False
    for t in tasks:
        if t.key in keys or not t.state.terminal:
            continue
        if manifest.is_leaf(t.key):
            outcome = tm.leaf_outcome(t.state)
            failed += outcome is tm.LeafOutcome.FAILED
            canceled += outcome is tm.LeafOutcome.CANCELED
        any_failed = any_failed or tm.is_failure(t.state)
    return {
        "open_leaves": sum(is_sink(manifest, keys, k) for k in keys),
        "failed_leaves": failed,
        "canceled_leaves": canceled,
        "any_failed": any_failed,
    }


def leaf_of(run: Run, manifest: FlowManifest, t: Task) -> str | None:
    """What a finished task counts off its run when it propagates: a flow leaf its outcome; a
    sink of the run's repair that is no flow leaf only closes itself ("ok"); else nothing."""
    if manifest.is_leaf(t.key):
        return tm.leaf_outcome(t.state).value
    keys = planned(run)
    if keys and is_sink(manifest, keys, t.key):
        return tm.LeafOutcome.OK.value
    return None


def planned(run: Run) -> dict[str, Any]:
    """The tasks of the run's latest repair: ``{key: [state, attempt]}`` as the plan saw them."""
    if not run.repair:
        return {}
    tasks: dict[str, Any] = run.repair.get("tasks") or {}
    return tasks
