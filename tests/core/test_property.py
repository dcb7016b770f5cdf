"""Random DAGs against a small reference model of Databricks semantics.

Random flows of up to 60 tasks with random run_if, condition tasks and retries; random attempt
outcomes; settles delivered in random order, some duplicated, some through the webhook path.
The engine's final states must equal the reference model's, and no attempt may start twice.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_resolver.core.errors import AlreadySettled
from lambda_resolver.core.manifest import FlowManifest, TaskSpec
from lambda_resolver.core.models import PromiseState, RunState, TaskState
from lambda_resolver.stores.sqlite import SqliteStore

from support.flows import condition_task, flow, job_task
from support.harness import Harness

RUN_IFS = [
    "ALL_SUCCESS",
    "AT_LEAST_ONE_SUCCESS",
    "NONE_FAILED",
    "ALL_DONE",
    "AT_LEAST_ONE_FAILED",
    "ALL_FAILED",
]


@dataclass
class Case:
    manifest: FlowManifest
    script: dict[str, list[bool]]  # per task, attempt outcomes (True: success)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(1, 60))
    tasks: list[TaskSpec] = []
    is_condition: dict[str, bool] = {}
    script: dict[str, list[bool]] = {}
    for i in range(n):
        key = f"t{i}"
        parents = sorted(draw(st.sets(st.integers(0, i - 1), max_size=min(i, 4)))) if i else []
        deps: list[str | tuple[str, str]] = []
        for p in parents:
            pk = f"t{p}"
            deps.append((pk, draw(st.sampled_from(["true", "false"]))) if is_condition[pk] else pk)
        run_if = draw(st.sampled_from(RUN_IFS)) if parents else "ALL_SUCCESS"
        if parents and draw(st.integers(0, 6)) == 0:
            right = draw(st.sampled_from(["a", "b"]))
            tasks.append(
                condition_task(
                    key,
                    [d if isinstance(d, str) else d[0] for d in deps],
                    "EQUAL_TO",
                    "a",
                    right,
                    run_if=_run_if(run_if),
                )
            )
            # a condition task's own deps carry no outcome unless on another condition task
            tasks[-1] = _with_deps(tasks[-1], deps)
            is_condition[key] = True
            script[key] = [True]
        else:
            retries = draw(st.integers(0, 2))
            tasks.append(job_task(key, deps, run_if=run_if, max_retries=retries))
            is_condition[key] = False
            script[key] = draw(st.lists(st.booleans(), min_size=retries + 1, max_size=retries + 1))
    return Case(flow("prop", tasks), script)


def _run_if(name: str):
    from lambda_resolver.core.manifest import RunIf

    return RunIf(name)


def _with_deps(spec: TaskSpec, deps: list[str | tuple[str, str]]) -> TaskSpec:
    from lambda_resolver.core.manifest import Dependency

    return spec._replace(
        depends_on=tuple(Dependency(*d) if isinstance(d, tuple) else Dependency(d) for d in deps)
    )


# -- the reference model: Databricks' documented rules, written out plainly -------------------------


def reference(case: Case) -> tuple[dict[str, str], dict[str, int]]:
    """Final state and attempts per task, computed in topological (index) order."""
    final: dict[str, str] = {}
    outcome: dict[str, str] = {}
    attempts: dict[str, int] = {}
    for spec in case.manifest.tasks:
        kinds = []
        for d in spec.depends_on:
            s = final[d.task_key]
            if s == "SUCCESS" and d.outcome is not None and outcome[d.task_key] != d.outcome:
                kinds.append("excluded")
            elif s == "SUCCESS":
                kinds.append("succeeded")
            elif s == "EXCLUDED":
                kinds.append("excluded")
            else:
                kinds.append("failed")  # FAILED, UPSTREAM_FAILED (no cancels in this model)
        run_if = spec.run_if.value
        if kinds and all(k == "excluded" for k in kinds):
            state = "EXCLUDED"
        elif not kinds:
            state = "RUN"
        elif run_if == "ALL_SUCCESS":
            state = "RUN" if "failed" not in kinds else "UPSTREAM_FAILED"
        elif run_if == "AT_LEAST_ONE_SUCCESS":
            state = "RUN" if ("succeeded" in kinds or "excluded" in kinds) else "UPSTREAM_FAILED"
        elif run_if == "NONE_FAILED":
            state = "RUN" if ("failed" not in kinds and "succeeded" in kinds) else "UPSTREAM_FAILED"
        elif run_if == "ALL_DONE":
            state = "RUN"
        elif run_if == "AT_LEAST_ONE_FAILED":
            state = "RUN" if "failed" in kinds else "EXCLUDED"
        else:  # ALL_FAILED
            state = "RUN" if all(k == "failed" for k in kinds) else "EXCLUDED"
        if state == "RUN":
            if spec.condition is not None:
                state = "SUCCESS"
                outcome[spec.key] = "true" if spec.condition.left == spec.condition.right else "false"
            else:
                tries = case.script[spec.key]
                n_ok = next((i for i, ok in enumerate(tries) if ok), None)
                attempts[spec.key] = len(tries) if n_ok is None else n_ok + 1
                state = "SUCCESS" if n_ok is not None else "FAILED"
        final[spec.key] = state
    return final, attempts


def reference_run_state(case: Case, final: dict[str, str]) -> str:
    leaves = [k for k in final if case.manifest.is_leaf(k)]
    if any(final[k] in ("FAILED", "UPSTREAM_FAILED") for k in leaves):
        return "FAILED"
    if any(s in ("FAILED", "UPSTREAM_FAILED") for s in final.values()):
        return "SUCCESS_WITH_FAILURES"
    return "SUCCESS"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(case=cases(), data=st.data())
def test_random_flows_end_as_the_reference_model_says_with_no_attempt_started_twice(
    case: Case, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "p.db")
        try:
            h = Harness(store)
            h.publish(case.manifest)
            run = h.start("prop", run_id="r")
            sent: list[tuple[str, bool]] = []
            for _ in range(10_000):
                running = [t for t in store.list_tasks("r") if t.state is TaskState.RUNNING]
                if not running:
                    break
                t = running[data.draw(st.integers(0, len(running) - 1), label="next")]
                ok = case.script[t.key][t.attempt - 1]
                assert t.promise_id is not None
                if not ok and data.draw(st.booleans(), label="via webhook"):
                    h.launcher.end(t.databricks_run_id or 0, "FAILED", message="boom")
                    h.engine.on_databricks_run(t.databricks_run_id or 0)
                    sent.append((t.promise_id, False))
                else:
                    _send(h, t.promise_id, ok)
                    sent.append((t.promise_id, ok))
                if sent and data.draw(st.booleans(), label="duplicate"):
                    pid, again = sent[data.draw(st.integers(0, len(sent) - 1), label="which")]
                    before = len(h.launcher.runs)
                    _send(h, pid, again, expect_duplicate=True)
                    assert len(h.launcher.runs) == before  # a duplicate starts nothing
            expected, attempts = reference(case)
            assert h.states("r") == expected
            assert {t.key: t.attempt for t in store.list_tasks("r") if t.key in attempts} == attempts
            assert h.launcher.duplicates == {}
            assert len(h.launcher.runs) == sum(attempts.values())
            assert h.run(run).state is RunState(reference_run_state(case, expected))
        finally:
            store.close()


def _send(h: Harness, promise_id: str, ok: bool, *, expect_duplicate: bool = False) -> None:
    try:
        if ok:
            h.engine.settle(promise_id, PromiseState.RESOLVED, value={"ok": 1})
        else:
            h.engine.settle(
                promise_id, PromiseState.REJECTED, error={"type": "DatabricksRunFailed", "message": "boom"}
            )
    except AlreadySettled:
        # A failure delivered first by the webhook carries the run's message; a later callback
        # with another error is a conflict, which is what strictness demands.
        assert expect_duplicate
