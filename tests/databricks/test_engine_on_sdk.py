"""The engine runs a flow through SdkLauncher, databricks-sdk and the local workspace.

No resolver HTTP server here: each notebook is a CallbackExecutor function whose return value
is its exit value, and the engine's reconciler settles each task from ``runs/get`` and
``runs/get-output`` — the lost-callback path, end to end on the real SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.clock import FakeClock
from lambda_resolver.core.ids import idempotency_token
from lambda_resolver.core.models import RunState, TaskState
from lambda_resolver.databricks import SdkLauncher
from lambda_resolver.local import CallbackExecutor, LocalRun, LocalWorkspace
from lambda_resolver.stores.sqlite import SqliteStore

from support.flows import flow, job_task
from support.harness import SETTINGS, Harness

FLOW = flow(
    "pair",
    [
        job_task("extract", params={"day": "{{job.parameters.day}}"}),
        job_task("report", ["extract"], params={"rows": "{{tasks.extract.values.rows}}"}),
    ],
    params={"day": ""},
)


def notebook(run: LocalRun) -> Any:
    """Both child jobs' notebooks: extract counts rows, report echoes what it was given."""
    assert run.job_parameters["lakehook"].startswith("lh1.")
    if run.job_name == "job_extract":
        return {"rows": 10, "day": run.job_parameters["day"]}
    return {"reported": int(run.job_parameters["rows"])}


@pytest.fixture
def stack(
    tmp_path: Path, make_client: Callable[..., Any], token: str
) -> Iterator[tuple[Harness, LocalWorkspace]]:
    clock = FakeClock()
    executor = CallbackExecutor(notebook)
    with LocalWorkspace(executor=executor, token=token, clock=clock) as ws:
        # support.flows gives the flow's jobs ids 1..n in task order
        ws.register_job(
            1, "job_extract", {"parameters": [{"name": "lakehook"}, {"name": "day"}]}, "job_extract"
        )
        ws.register_job(
            2, "job_report", {"parameters": [{"name": "lakehook"}, {"name": "rows"}]}, "job_report"
        )
        client = make_client(ws.url, token)
        store = SqliteStore(tmp_path / "lakehook.db")
        h = Harness(store, launcher=SdkLauncher(lambda: client), clock=clock)  # type: ignore[arg-type]
        yield h, ws
        executor.join()
        store.close()


def test_a_two_task_flow_settles_from_run_output_with_one_run_per_token(
    stack: tuple[Harness, LocalWorkspace],
) -> None:
    h, ws = stack
    h.publish(FLOW)
    run = h.start("pair", run_id="r-sdk", params={"day": "2026-11-23"})
    extract = h.task(run, "extract")
    assert extract.state is TaskState.RUNNING and extract.databricks_run_id is not None
    assert extract.run_page_url == f"{ws.url}/jobs/1/runs/{extract.databricks_run_id}"
    ws.wait(extract.databricks_run_id)

    # the next check reads the ended run (past its success grace), settles extract from its
    # output and triggers report, due for its own check one interval later
    h.advance(SETTINGS.check_interval_ms)
    extract = h.task(run, "extract")
    assert extract.state is TaskState.SUCCESS
    assert extract.value == {"rows": 10, "day": "2026-11-23"}
    report = h.task(run, "report")
    assert report.state is TaskState.RUNNING and report.databricks_run_id is not None
    assert ws.run(report.databricks_run_id).job_parameters["rows"] == "10"
    ws.wait(report.databricks_run_id)

    h.advance(SETTINGS.check_interval_ms)
    assert h.task(run, "report").value == {"reported": 10}
    assert h.run(run).state is RunState.SUCCESS

    tokens = {idempotency_token(t.promise_id or "") for t in (extract, report)}
    assert ws.runs_per_token() == dict.fromkeys(tokens, 1)
    assert len(ws.runs()) == 2
