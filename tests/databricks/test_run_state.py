"""Reading a run's life cycle and result from either Jobs API shape (the SDK's own parsing)."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk.service.jobs import Run

from lambda_resolver.databricks.run_state import decode_output, life_result_message, output_task_ids


def terminated(code: str, message: str = "") -> dict[str, Any]:
    return {"status": {"state": "TERMINATED", "termination_details": {"code": code, "message": message}}}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # the 2.2 status object alone
        ({"status": {"state": "QUEUED"}}, ("QUEUED", None)),
        ({"status": {"state": "RUNNING"}}, ("RUNNING", None)),
        ({"status": {"state": "WAITING"}}, ("WAITING_FOR_RETRY", None)),
        ({"status": {"state": "TERMINATING"}}, ("TERMINATING", None)),
        (terminated("SUCCESS"), ("TERMINATED", "SUCCESS")),
        (terminated("SUCCESS_WITH_FAILURES"), ("TERMINATED", "SUCCESS_WITH_FAILURES")),
        (terminated("USER_CANCELED"), ("TERMINATED", "CANCELED")),
        (terminated("CANCELED", "Run canceled by the platform"), ("TERMINATED", "CANCELED")),
        (terminated("CANCELED", "The run timed out after 3600 seconds"), ("TERMINATED", "TIMEDOUT")),
        (terminated("RUN_EXECUTION_ERROR"), ("TERMINATED", "FAILED")),
        (terminated("DRIVER_ERROR"), ("TERMINATED", "FAILED")),
        (terminated("INTERNAL_ERROR"), ("INTERNAL_ERROR", "FAILED")),
        (terminated("MAX_CONCURRENT_RUNS_EXCEEDED"), ("SKIPPED", None)),
        # the legacy state object wins where it is present
        (
            {
                "state": {"life_cycle_state": "TERMINATED", "result_state": "TIMEDOUT"},
                **terminated("CANCELED"),
            },
            ("TERMINATED", "TIMEDOUT"),
        ),
        ({"state": {"life_cycle_state": "PENDING"}, "status": {"state": "QUEUED"}}, ("PENDING", None)),
        ({"state": {"life_cycle_state": "TERMINATED"}, **terminated("SUCCESS")}, ("TERMINATED", "SUCCESS")),
        ({"state": {"life_cycle_state": "SKIPPED", "state_message": "busy"}}, ("SKIPPED", None)),
        ({}, ("UNKNOWN", None)),
    ],
)
def test_life_and_result_are_read_from_state_or_status(
    payload: dict[str, Any], expected: tuple[str, Any]
) -> None:
    life, result, _ = life_result_message(Run.from_dict(payload))
    assert (life, result) == expected


def test_the_message_comes_from_the_state_else_from_the_termination_details() -> None:
    legacy = {"state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "boom"}}
    assert life_result_message(Run.from_dict(legacy))[2] == "boom"
    assert life_result_message(Run.from_dict(terminated("DRIVER_ERROR", "driver lost")))[2] == "driver lost"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ('{"rows": 10}', {"rows": 10}),
        ("[1, 2]", [1, 2]),
        ('"s"', "s"),
        ("not json", "not json"),
        ("", ""),
        (None, None),
    ],
)
def test_an_exit_value_is_json_decoded_when_it_parses(raw: str | None, value: Any) -> None:
    assert decode_output(raw) == value


def test_the_output_of_a_single_task_run_is_its_task_whatever_its_type() -> None:
    run = Run.from_dict(
        {"tasks": [{"task_key": "main", "run_id": 11, "spark_python_task": {"python_file": "x"}}]}
    )
    assert output_task_ids(run) == [11]


def test_the_output_of_a_multi_task_run_is_looked_for_in_notebook_tasks_last_ended_first() -> None:
    run = Run.from_dict(
        {
            "tasks": [
                {"task_key": "a", "run_id": 1, "end_time": 300, "notebook_task": {"notebook_path": "/a"}},
                {"task_key": "b", "run_id": 2, "end_time": 900, "python_wheel_task": {"package_name": "p"}},
                {"task_key": "c", "run_id": 3, "end_time": 500, "notebook_task": {"notebook_path": "/c"}},
            ]
        }
    )
    assert output_task_ids(run) == [3, 1]
