"""The operator door over HTTP: runs, standalone promises, flows, schedules.

Operator credentials only (a callback token never opens these). On AWS the same operations
are reachable by direct invocation (IAM), see :mod:`lambda_resolver.http.invoke`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from lambda_resolver.core.engine import Engine
from lambda_resolver.core.models import RunState
from lambda_resolver.http import operations as ops
from lambda_resolver.http.api import OPERATOR_SECURITY, Api, responses
from lambda_resolver.http.auth import require_operator
from lambda_resolver.http.models import BlankIsNone, Cursor, ErrorBody, FlowName, PromiseDocument
from lambda_resolver.http.operator_models import (
    CreatePromiseBody,
    FlowList,
    Published,
    RepairRunBody,
    RunDocument,
    RunList,
    ScheduleDocument,
    ScheduleList,
    StartRunBody,
    TaskDocument,
)
from lambda_resolver.http.services import Services
from lambda_resolver.http.task_logs import task_logs
from lambda_resolver.http.wire import JSON_TYPE, json_response, path_id

Manifest = Annotated[
    dict[str, Any],
    Body(description="A compiled flow, shaped as FlowManifest.to_dict (what `lakehook publish` sends)."),
]


def register(api: Api, services: Services) -> None:
    """Add the operator routes to ``api``."""
    router = api.router

    def engine() -> Engine:
        require_operator(services, router.current_event.headers)
        return services.get_engine()

    def operator_guard(headers: Mapping[str, str], params: Mapping[str, str]) -> None:
        require_operator(services, headers)

    # Every operator route checks its credentials before its body is parsed (Api.gate).
    common: dict[str, Any] = {"security": OPERATOR_SECURITY, "guard": operator_guard}

    # -- runs ----------------------------------------------------------------------------------
    @api.post(
        "/v1/runs",
        body=True,
        summary="Start a flow run (idempotent by run_id)",
        tags=["runs"],
        responses=responses({201: RunDocument, 200: RunDocument}, 400, 401, 403, 404, 409, 413, 415),
        **common,
    )
    def start_run(body: Annotated[StartRunBody, Body()]) -> Response[str]:
        return json_response(*ops.start_run(engine(), body))

    @api.get(
        "/v1/runs",
        summary="List runs, newest first, a page at a time",
        tags=["runs"],
        responses=responses({200: RunList}, 400, 401, 403),
        **common,
    )
    def list_runs(
        flow: Annotated[BlankIsNone[FlowName], Query()] = None,
        state: Annotated[BlankIsNone[RunState], Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[BlankIsNone[Cursor], Query()] = None,
    ) -> Response[str]:
        return json_response(*ops.list_runs(engine(), flow=flow, state=state, limit=limit, cursor=cursor))

    @api.get(
        "/v1/runs/<run_id>",
        summary="A run and every task: state, attempt, timings, value, Databricks run",
        description=(
            "Task values that would take the answer past 5 MB are left out, largest first, and "
            'marked `"value_omitted": true`; `?values=false` leaves them all out.'
        ),
        tags=["runs"],
        responses=responses({200: RunDocument}, 400, 401, 403, 404),
        **common,
    )
    def get_run(
        run_id: str,
        values: Annotated[
            bool,
            Query(description="false: leave task values out (each is at /v1/runs/{id}/tasks/{task_key})"),
        ] = True,
    ) -> Response[str]:
        eng = engine()
        return json_response(*ops.get_run(eng, path_id(run_id, "run_id"), values=values))

    @api.get(
        "/v1/runs/<run_id>/tasks/<task_key>",
        summary="One task of a run, with its value in full",
        tags=["runs"],
        responses=responses({200: TaskDocument}, 400, 401, 403, 404),
        **common,
    )
    def get_task(
        run_id: str,
        task_key: str,
        cursor: Annotated[
            str | None, Query(description="A for_each task: the next_cursor of the page before")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500, description="A for_each task: iterations per page")] = 100,
    ) -> Response[str]:
        eng = engine()
        rid, key = path_id(run_id, "run_id"), path_id(task_key, "task_key")
        return json_response(*ops.get_task(eng, rid, key, cursor=cursor, limit=limit))

    @api.post(
        "/v1/runs/<run_id>/cancel",
        summary="Cancel a run: nothing new starts, running Databricks runs are canceled",
        tags=["runs"],
        responses=responses({200: RunDocument}, 400, 401, 403, 404),
        **common,
    )
    def cancel_run(run_id: str) -> Response[str]:
        eng = engine()
        return json_response(*ops.cancel_run(eng, path_id(run_id, "run_id")))

    @api.get(
        "/v1/runs/<run_id>/tasks/<task_key>/logs",
        summary="A task attempt's error, trace and log, from its Databricks run (runs/get-output)",
        tags=["runs"],
        responses=responses({200: None}, 400, 401, 403, 404),
        **common,
    )
    def get_task_logs(
        run_id: str, task_key: str, attempt: Annotated[int | None, Query(ge=1)] = None
    ) -> Response[str]:
        eng = engine()
        key = path_id(task_key, "task key")
        return json_response(*task_logs(eng, path_id(run_id, "run_id"), key, attempt))

    @api.post(
        "/v1/runs/<run_id>/repair",
        body=True,
        summary="Repair a run that ended: rerun what did not succeed, in the same run",
        tags=["runs"],
        responses=_repair_responses(),
        **common,
    )
    def repair_run(run_id: str, body: Annotated[RepairRunBody, Body()]) -> Response[str]:
        eng = engine()
        return json_response(*ops.repair_run(eng, path_id(run_id, "run_id"), body))

    # -- standalone promises -------------------------------------------------------------------
    @api.post(
        "/v1/promises",
        body=True,
        summary="Create a standalone promise, optionally starting one job for it",
        tags=["promises"],
        responses=responses({201: PromiseDocument, 200: PromiseDocument}, 400, 401, 403, 413, 415),
        **common,
    )
    def create_promise(body: Annotated[CreatePromiseBody, Body()]) -> Response[str]:
        return json_response(*ops.create_promise(services, engine(), body))

    @api.get(
        "/v1/promises/<promise_id>",
        summary="A promise",
        tags=["promises"],
        responses=responses({200: PromiseDocument}, 400, 401, 403, 404),
        **common,
    )
    def get_promise(promise_id: str) -> Response[str]:
        eng = engine()
        return json_response(*ops.get_promise(eng, path_id(promise_id, "promise id")))

    # -- flows ---------------------------------------------------------------------------------
    @api.post(
        "/v1/flows",
        body=True,
        summary="Publish a compiled flow as its next version",
        tags=["flows"],
        responses=responses({201: Published}, 400, 401, 403, 413, 415),
        **common,
    )
    def publish_flow(
        body: Manifest,
        production: Annotated[
            bool, Query(description="The target is `mode: production`: a first schedule starts active.")
        ] = False,
    ) -> Response[str]:
        return json_response(*ops.publish(engine(), body, production=production))

    @api.get(
        "/v1/flows",
        summary="The latest version of every flow",
        tags=["flows"],
        responses=responses({200: FlowList}, 401, 403),
        **common,
    )
    def list_flows() -> Response[str]:
        return json_response(*ops.list_flows(engine()))

    @api.get(
        "/v1/flows/<name>",
        summary="A flow's manifest (the latest version, or ?version=)",
        tags=["flows"],
        responses=responses({200: None}, 400, 401, 403, 404),
        **common,
    )
    def get_flow(name: str, version: Annotated[int | None, Query(ge=1)] = None) -> Response[str]:
        eng = engine()
        return json_response(*ops.get_flow(eng, path_id(name, "flow name"), version))

    # -- schedules -------------------------------------------------------------------------------
    @api.get(
        "/v1/schedules",
        summary="Every flow's schedule, switch and next fire time",
        tags=["schedules"],
        responses=responses({200: ScheduleList}, 401, 403),
        **common,
    )
    def list_schedules() -> Response[str]:
        return json_response(*ops.list_schedules(engine()))

    @api.get(
        "/v1/flows/<name>/schedule",
        summary="A flow's schedule, whether lakehook fires it, and its next fire time",
        tags=["schedules"],
        responses=responses({200: ScheduleDocument}, 400, 401, 403, 404),
        **common,
    )
    def get_schedule(name: str) -> Response[str]:
        eng = engine()
        return json_response(*ops.get_schedule(eng, path_id(name, "flow name")))

    @api.post(
        "/v1/flows/<name>/schedule/pause",
        summary="Stop firing a flow's schedule (lakehook's switch; the YAML stays PAUSED)",
        tags=["schedules"],
        responses=responses({200: ScheduleDocument}, 400, 401, 403, 404),
        **common,
    )
    def pause_schedule(name: str) -> Response[str]:
        eng = engine()
        return json_response(*ops.pause_schedule(eng, path_id(name, "flow name")))

    @api.post(
        "/v1/flows/<name>/schedule/resume",
        summary="Fire a flow's schedule again, from its next slot after now",
        tags=["schedules"],
        responses=responses({200: ScheduleDocument}, 400, 401, 403, 404),
        **common,
    )
    def resume_schedule(name: str) -> Response[str]:
        eng = engine()
        return json_response(*ops.resume_schedule(eng, path_id(name, "flow name")))


def _repair_responses() -> dict[int, Any]:
    """A repair's 409 is the plain error shape (``repair_conflict``, with ``latest_repair_id`` or
    ``state``), not a settle's conflict that carries a promise."""
    out: dict[int, Any] = dict(responses({200: RunDocument}, 400, 401, 403, 404, 409, 415))
    out[409] = {
        "description": "The run has not ended, another repair came first, or there is nothing to rerun",
        "content": {JSON_TYPE: {"model": ErrorBody}},
    }
    return out
