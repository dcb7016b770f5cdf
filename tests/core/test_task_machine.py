"""The task machine restates Databricks' run_if table; each row is a test."""

from __future__ import annotations

import pytest

from lambda_resolver.core import task_machine as tm
from lambda_resolver.core.manifest import ConditionOp, Dependency, RunIf, TaskKind, TaskSpec
from lambda_resolver.core.models import PromiseState, Run, RunState, Task, TaskState

OK, EX, F, C = tm.EdgeOutcome.OK, tm.EdgeOutcome.EXCLUDED, tm.EdgeOutcome.FAILED, tm.EdgeOutcome.CANCELED
RUN, UF, UC, EXCL = (
    TaskState.TRIGGERING,
    TaskState.UPSTREAM_FAILED,
    TaskState.UPSTREAM_CANCELED,
    TaskState.EXCLUDED,
)


@pytest.mark.parametrize(
    ("run_if", "outcomes", "expected"),
    [
        (RunIf.ALL_SUCCESS, [OK, OK], RUN),
        (RunIf.ALL_SUCCESS, [OK, F], UF),
        (RunIf.ALL_SUCCESS, [OK, EX], RUN),  # excluded counts as success
        (RunIf.AT_LEAST_ONE_SUCCESS, [F, OK], RUN),
        (RunIf.AT_LEAST_ONE_SUCCESS, [F, F], UF),
        (RunIf.AT_LEAST_ONE_SUCCESS, [F, EX], RUN),
        (RunIf.NONE_FAILED, [OK, EX], RUN),
        (RunIf.NONE_FAILED, [OK, F], UF),
        (RunIf.ALL_DONE, [F, F], RUN),
        (RunIf.ALL_DONE, [OK, C], RUN),  # a run_if that handles failure still runs after a cancel
        (RunIf.AT_LEAST_ONE_FAILED, [OK, F], RUN),
        (RunIf.AT_LEAST_ONE_FAILED, [OK, OK], EXCL),
        (RunIf.AT_LEAST_ONE_FAILED, [OK, C], RUN),
        (RunIf.ALL_FAILED, [F, F], RUN),
        (RunIf.ALL_FAILED, [F, OK], EXCL),
        (RunIf.ALL_SUCCESS, [OK, C], UC),  # a cancel cancels what depends on it
        (RunIf.NONE_FAILED, [F, C], UC),
        (RunIf.ALL_FAILED, [EX, EX], EXCL),  # all dependencies excluded: excluded, whatever run_if
        (RunIf.ALL_DONE, [EX], EXCL),
        (RunIf.ALL_SUCCESS, [], RUN),  # a root
    ],
)
def test_run_if_decides_as_databricks_does(
    run_if: RunIf, outcomes: list[tm.EdgeOutcome], expected: TaskState
) -> None:
    assert tm.evaluate(run_if, outcomes) is expected


def _task(state: TaskState, outcome: str | None = None) -> Task:
    return Task(run_id="r", key="p", state=state, waiting=0, outcome=outcome)


@pytest.mark.parametrize(
    ("state", "outcome", "dep_outcome", "expected"),
    [
        (TaskState.SUCCESS, None, None, OK),
        (TaskState.SUCCESS, "true", "true", OK),
        (TaskState.SUCCESS, "false", "true", EX),  # the branch not taken
        (TaskState.EXCLUDED, None, None, EX),
        (TaskState.FAILED, None, None, F),
        (TaskState.TIMEDOUT, None, None, F),
        (TaskState.UPSTREAM_FAILED, None, None, F),
        (TaskState.CANCELED, None, None, C),
        (TaskState.UPSTREAM_CANCELED, None, None, C),
    ],
)
def test_a_finished_parent_leaves_an_edge_outcome(
    state: TaskState, outcome: str | None, dep_outcome: str | None, expected: tm.EdgeOutcome
) -> None:
    assert tm.edge_outcome(_task(state, outcome), Dependency("p", dep_outcome)) is expected


def test_an_unfinished_parent_has_no_edge_outcome() -> None:
    with pytest.raises(ValueError, match="not finished"):
        tm.edge_outcome(_task(TaskState.RUNNING), Dependency("p"))


SPEC = TaskSpec(key="t", kind=TaskKind.JOB, job_key="j", max_retries=2, min_retry_interval_ms=500)


@pytest.mark.parametrize(
    ("spec", "attempt", "promise", "expected"),
    [
        (SPEC, 1, PromiseState.RESOLVED, TaskState.SUCCESS),
        (SPEC, 1, PromiseState.REJECTED, TaskState.RETRY_WAIT),
        (SPEC, 3, PromiseState.REJECTED, TaskState.FAILED),  # 2 retries used
        (SPEC, 1, PromiseState.REJECTED_TIMEDOUT, TaskState.TIMEDOUT),  # no retry_on_timeout
        (
            TaskSpec(key="t", kind=TaskKind.JOB, max_retries=1, retry_on_timeout=True),
            1,
            PromiseState.REJECTED_TIMEDOUT,
            TaskState.RETRY_WAIT,
        ),
        (SPEC, 1, PromiseState.REJECTED_CANCELED, TaskState.CANCELED),  # never retried
        (
            TaskSpec(key="t", kind=TaskKind.JOB, max_retries=-1),
            99,
            PromiseState.REJECTED,
            TaskState.RETRY_WAIT,
        ),
    ],
)
def test_an_attempt_outcome_applies_the_retry_policy(
    spec: TaskSpec, attempt: int, promise: PromiseState, expected: TaskState
) -> None:
    result = tm.after_attempt(spec, attempt, promise, now=1000)
    assert result.state is expected
    if expected is TaskState.RETRY_WAIT:
        assert result.retry_at == 1000 + spec.min_retry_interval_ms


def _run(**kw: object) -> Run:
    return Run(run_id="r", flow="f", flow_version=1, state=RunState.RUNNING, created_at=0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, RunState.SUCCESS),
        ({"any_failed": True}, RunState.SUCCESS_WITH_FAILURES),
        ({"any_failed": True, "failed_leaves": 1}, RunState.FAILED),
        ({"canceled_leaves": 1}, RunState.CANCELED),
        ({"stop_reason": "CANCELED", "failed_leaves": 1}, RunState.CANCELED),
        ({"stop_reason": "TIMEDOUT"}, RunState.TIMEDOUT),
    ],
)
def test_the_run_result_is_decided_by_its_leaves(fields: dict[str, object], expected: RunState) -> None:
    assert tm.run_result(_run(**fields)) is expected


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        (ConditionOp.EQUAL_TO, "12.0", "12", False),  # strings, as Databricks compares them
        (ConditionOp.EQUAL_TO, "yes", "yes", True),
        (ConditionOp.NOT_EQUAL, "a", "b", True),
        (ConditionOp.GREATER_THAN_OR_EQUAL, "12.0", "12", True),  # numbers
        (ConditionOp.GREATER_THAN, "0.91", "0.9", True),
        (ConditionOp.LESS_THAN, "10", "9", False),
        (ConditionOp.LESS_THAN_OR_EQUAL, " 3 ", "3", True),
    ],
)
def test_conditions_compare_like_databricks(op: ConditionOp, left: str, right: str, expected: bool) -> None:
    assert tm.evaluate_condition(op, left, right) is expected


def test_a_numeric_condition_on_text_says_which_operand_is_not_a_number() -> None:
    with pytest.raises(ValueError, match="'abc' is not a number"):
        tm.evaluate_condition(ConditionOp.GREATER_THAN, "abc", "1")


def test_every_transition_leaves_a_non_terminal_state() -> None:
    assert all(not s.terminal for s in tm.TRANSITIONS)
    assert tm.sources_of(TaskState.RUNNING) == {TaskState.TRIGGERING}
