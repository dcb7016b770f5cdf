"""The writer applies only moves the machines allow, with the machines' conditions."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_resolver.core import task_machine as tm
from lambda_resolver.core.errors import StoreConflict
from lambda_resolver.core.models import Promise, PromiseState, Run, RunState, Task, TaskState
from lambda_resolver.core.transitions import IllegalTransition, Transitions
from lambda_resolver.stores.sqlite import SqliteStore

T = TaskState


@pytest.fixture
def writes(tmp_path: Path) -> Transitions:
    store = SqliteStore(tmp_path / "lakehook.db")
    run = Run(run_id="r1", flow="f", flow_version=1, state=RunState.PENDING, created_at=0, open_leaves=1)
    store.create_run(run, [Task(run_id="r1", key="a", state=T.WAITING, waiting=0)])
    return Transitions(store)


def _task(writes: Transitions) -> Task:
    t = writes.store.get_task("r1", "a")
    assert t is not None
    return t


def test_a_move_the_task_table_does_not_allow_is_refused_before_any_write(writes: Transitions) -> None:
    t = _task(writes)
    with pytest.raises(IllegalTransition, match="WAITING → SUCCESS"):
        writes.move_task(t, T.SUCCESS, {})
    assert _task(writes).state is T.WAITING


def test_a_move_holds_from_any_state_the_target_is_reached_from_at_the_same_attempt(
    writes: Transitions,
) -> None:
    t = writes.move_task(_task(writes), T.TRIGGERING, {"attempt": 1, "promise_id": "r1.a.1"})
    writes.move_task(t, T.RUNNING, {})  # meanwhile a launch marked it running
    done = writes.move_task(t, T.SUCCESS, {"value": 1})  # a finish that read it TRIGGERING still lands
    assert done.state is T.SUCCESS
    assert T.RUNNING in tm.sources_of(T.SUCCESS) and T.TRIGGERING in tm.sources_of(T.SUCCESS)


def test_a_move_on_a_stale_attempt_loses_with_the_current_record(writes: Transitions) -> None:
    t = writes.move_task(_task(writes), T.TRIGGERING, {"attempt": 1})
    writes.move_task(t, T.RETRY_WAIT, {})
    retried = writes.move_task(_task(writes), T.TRIGGERING, {"attempt": 2})
    with pytest.raises(StoreConflict) as lost:
        writes.move_task(t, T.SUCCESS, {})  # attempt 1's finish arrives late
    assert lost.value.current.attempt == retried.attempt == 2


@pytest.mark.parametrize("setter", ["task", "run", "promise"])
def test_field_setters_refuse_to_change_a_state(writes: Transitions, setter: str) -> None:
    with pytest.raises(IllegalTransition, match="must not change the state"):
        if setter == "task":
            writes.set_task_fields("r1", "a", {"state": "SUCCESS"}, while_in=T.WAITING, attempt=0)
        elif setter == "run":
            writes.set_run_fields("r1", {"state": "SUCCESS"}, while_in=RunState.PENDING)
        else:
            writes.set_promise_fields("p", {"state": "RESOLVED"}, while_in=None)


def test_a_run_ends_once_and_a_stop_after_its_end_changes_nothing(writes: Transitions) -> None:
    writes.move_run("r1", RunState.RUNNING, {})
    writes.move_run("r1", RunState.SUCCESS, {"ended_at": 5})
    with pytest.raises(StoreConflict):
        writes.move_run("r1", RunState.FAILED, {})
    with pytest.raises(StoreConflict):
        writes.request_stop("r1", "CANCELED")
    run = writes.store.get_run("r1")
    assert run is not None and run.state is RunState.SUCCESS and run.stop_reason is None


def test_a_settle_lands_only_before_the_deadline_and_a_timeout_only_after(writes: Transitions) -> None:
    writes.create_promise(Promise(id="p", state=PromiseState.PENDING, created_at=0, timeout_at=100))
    with pytest.raises(StoreConflict):
        writes.settle_promise("p", PromiseState.REJECTED_TIMEDOUT, {}, now=99)
    with pytest.raises(StoreConflict):
        writes.settle_promise("p", PromiseState.RESOLVED, {"value": 1}, now=100)
    p = writes.settle_promise("p", PromiseState.REJECTED_TIMEDOUT, {}, now=100)
    assert p.state is PromiseState.REJECTED_TIMEDOUT and p.settled_at == 100
    with pytest.raises(IllegalTransition):
        writes.settle_promise("p", PromiseState.PENDING, {}, now=100)
