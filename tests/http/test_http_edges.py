"""The same API behind every door: Function URL and API Gateway HTTP API events, direct Lambda
invocation, and the local HTTP server that notebooks call with notebook_lib; /openapi.json."""

from __future__ import annotations

import copy
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.http import Services, create_app, handle_operator_event, is_http_event, make_handler
from lambda_resolver.http.local_server import is_loopback, serve
from lambda_resolver.stores.sqlite import SqliteStore
from notebook_lib import notify_done, notify_failed
from notebook_lib.errors import AlreadySettledError
from notebook_lib.handle import decode_handle

from support.flows import flow, job_task
from support.harness import SETTINGS, Harness

EVENTS = Path(__file__).resolve().parent.parent / "events"


@pytest.mark.parametrize("kind", ["function_url", "http_api"])
def test_both_event_kinds_serve_the_same_routes(h: Harness, make_client: Any, kind: str) -> None:
    client = make_client(kind=kind)
    h.publish(flow("one", [job_task("only")]))
    started = client.post("/v1/runs", {"flow": "one", "run_id": f"k-{kind}"}, operator=True)
    assert started.status == 201
    handle = decode_handle(h.params_of(f"k-{kind}", "only")["lakehook"])
    done = client.post(f"/v1/promises/{handle.promise_id}/resolve", {"value": kind}, token=handle.token)
    assert (done.status, done.json["value"]) == (200, kind)
    assert client.get(f"/v1/runs/k-{kind}", operator=True).json["state"] == "SUCCESS"
    assert client.get("/nowhere").status == 404
    assert client.post(f"/v1/promises/{handle.promise_id}/resolve", {"value": 1}, token="k1.x").status == 401
    assert client.events[0]["requestContext"]["http"]["method"] == "POST"  # real payload-2.0 events


def test_a_named_api_gateway_stage_is_stripped_from_the_path(h: Harness, make_client: Any) -> None:
    client = make_client(kind="http_api")
    event = copy.deepcopy(json.loads((EVENTS / "http_api_request.json").read_text()))
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/prod/healthz"
    event["requestContext"]["http"]["method"] = "GET"
    event["requestContext"]["stage"] = "prod"
    event.pop("body")
    from lambda_resolver.http import handle

    answer = handle(event, None, client.app)
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"ok": True})


def test_http_events_and_direct_invocations_are_told_apart() -> None:
    for name in ("function_url_request.json", "http_api_request.json"):
        assert is_http_event(json.loads((EVENTS / name).read_text()))
    direct = json.loads((EVENTS / "direct_start_run.json").read_text())
    assert not is_http_event(direct)
    assert not is_http_event({"source": "aws.events", "detail-type": "Scheduled Event"})
    assert not is_http_event({"lakehook": "get_run", "requestContext": {"http": {"method": "GET"}}})


def test_the_direct_invocation_door_answers_with_the_same_documents(h: Harness, make_client: Any) -> None:
    services = Services(engine=lambda: h.engine, signer=h.signer)  # no operator key: IAM is the door
    published = handle_operator_event({"lakehook": "publish", "manifest": flow_doc()}, services)
    assert published == {"status": 201, "body": {"flow": "nightly", "version": 1}}
    event = json.loads((EVENTS / "direct_start_run.json").read_text())
    started = handle_operator_event(event, services)
    assert started["status"] == 201
    assert handle_operator_event(event, services)["status"] == 200  # idempotent by run_id

    for key in ("extract_a", "extract_b", "combine", "report"):
        pid = h.task("r-2026-11-23", key).promise_id
        answer = handle_operator_event({"lakehook": "resolve", "id": pid, "value": {"rows": 1}}, services)
        assert answer["status"] == 200 and answer["body"]["state"] == "RESOLVED"
    run = handle_operator_event({"lakehook": "get_run", "run_id": "r-2026-11-23"}, services)
    http_view = make_client().get("/v1/runs/r-2026-11-23", operator=True).json
    assert run == {"status": 200, "body": http_view}
    assert run["body"]["state"] == "SUCCESS"

    listed = handle_operator_event({"lakehook": "list_runs", "flow": "nightly"}, services)
    assert [r["run_id"] for r in listed["body"]["runs"]] == ["r-2026-11-23"]
    assert handle_operator_event({"lakehook": "reconcile"}, services)["status"] == 200
    assert (
        handle_operator_event({"lakehook": "list_flows"}, services)["body"]["flows"][0]["name"] == "nightly"
    )


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        ({"lakehook": "explode"}, 400, "bad_request"),
        ({}, 400, "bad_request"),
        ({"lakehook": "get_run"}, 422, "invalid_request"),
        ({"lakehook": "get_run", "run_id": "r1", "extra": 1}, 422, "invalid_request"),
        ({"lakehook": "get_run", "run_id": "bad id"}, 400, "invalid_id"),
        ({"lakehook": "get_run", "run_id": "nope"}, 404, "not_found"),
        ({"lakehook": "resolve", "id": "nope.t.1", "value": "x" * 300_000}, 413, "value_too_large"),
        ({"lakehook": "publish", "manifest": {"name": "x"}}, 400, "bad_request"),
    ],
)
def test_direct_invocation_errors_have_the_http_shapes(
    h: Harness, event: dict[str, Any], status: int, code: str
) -> None:
    answer = handle_operator_event(event, Services(engine=lambda: h.engine, signer=h.signer))
    assert answer["status"] == status
    assert answer["body"]["error"]["code"] == code


def test_a_direct_invocation_that_breaks_is_a_500_that_echoes_nothing(h: Harness) -> None:
    def broken() -> Any:
        raise RuntimeError("secret text")

    answer = handle_operator_event({"lakehook": "list_flows"}, Services(engine=broken, signer=h.signer))
    assert answer == {"status": 500, "body": {"error": {"code": "internal", "message": "internal error"}}}


def test_the_lambda_handler_routes_http_events_and_direct_invocations(h: Harness) -> None:
    handler = make_handler(Services(engine=lambda: h.engine, signer=h.signer))
    http = json.loads((EVENTS / "function_url_request.json").read_text())
    http["rawPath"] = http["requestContext"]["http"]["path"] = "/healthz"
    http["requestContext"]["http"]["method"] = "GET"
    assert handler(http, None)["statusCode"] == 200
    assert handler({"lakehook": "list_flows"}, None) == {"status": 200, "body": {"flows": []}}


def test_openapi_is_a_valid_document_without_secrets(h: Harness, make_client: Any, operator_key: str) -> None:
    client = make_client(resonate_compat=True)
    h.publish(flow("one", [job_task("only")]))
    h.start("one", run_id="oa")
    token = decode_handle(h.params_of("oa", "only")["lakehook"]).token
    reply = client.get("/openapi.json")
    assert reply.status == 200
    doc = reply.json
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] == "lakehook resolver"
    for path in (
        "/v1/promises/{promise_id}/resolve",
        "/v1/promises/{promise_id}/reject",
        "/v1/promises/{promise_id}/heartbeat",
        "/v1/runs",
        "/v1/runs/{run_id}",
        "/v1/runs/{run_id}/cancel",
        "/v1/promises",
        "/v1/promises/{promise_id}",
        "/v1/flows",
        "/v1/webhooks/databricks",
        "/resolve",
        "/healthz",
    ):
        assert path in doc["paths"], path
    assert set(doc["components"]["securitySchemes"]) == {
        "promiseToken",
        "operatorBearer",
        "operatorKey",
        "webhookBasic",
    }
    resolve = doc["paths"]["/v1/promises/{promise_id}/resolve"]["post"]
    assert {"promiseToken": []} in resolve["security"]
    assert resolve["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert doc["paths"]["/v1/runs"]["post"]["security"] == [{"operatorBearer": []}, {"operatorKey": []}]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for secret in (operator_key, "webhook-password-42", token, h.signer._keys["k1"].decode()):
        assert secret not in reply.text
    try:
        from openapi_spec_validator import validate
    except ImportError:  # not a dependency; the structure is checked above
        return
    validate(doc)


# -- the local server ----------------------------------------------------------------------------
@pytest.fixture
def local(tmp_path: Path) -> Any:
    """A local server on a free loopback port whose engine calls back to that same server."""
    box: dict[str, Harness] = {}
    app = create_app(Services(engine=lambda: box["h"].engine, signer=harness_signer(), operator_open=True))
    server = serve(app, "127.0.0.1", 0)
    store = SqliteStore(tmp_path / "local.db")
    box["h"] = Harness(store, settings=SETTINGS._replace(callback_url=server.url))
    yield server, box["h"]
    server.close()
    store.close()


def harness_signer() -> TokenSigner:
    """A signer with the Harness's key (the server is built before the Harness knows its URL)."""
    return TokenSigner({"k1": b"0123456789abcdef0123456789abcdef"}, "k1")


def test_notebooks_call_back_to_the_local_server_with_notebook_lib(local: Any) -> None:
    server, h = local
    h.publish(flow("pair", [job_task("good"), job_task("bad")]))
    started = _call(server.url + "/v1/runs", {"flow": "pair", "run_id": "loc"})
    assert started[0] == 201
    good = h.params_of("loc", "good")["lakehook"]
    bad = h.params_of("loc", "bad")["lakehook"]
    assert decode_handle(good).url == server.url

    doc = notify_done({"rows": 7}, handle=good, timeout_s=10)
    assert doc is not None and (doc["state"], doc["value"]) == ("RESOLVED", {"rows": 7})
    assert notify_done({"rows": 7}, handle=good, timeout_s=10)["state"] == "RESOLVED"  # duplicate: 200
    with pytest.raises(AlreadySettledError):
        notify_done({"rows": 8}, handle=good, timeout_s=10)
    failed = notify_failed(ValueError("no rows"), handle=bad, timeout_s=10)
    assert failed is not None and failed["error"]["type"] == "ValueError"

    status, run = _call(server.url + "/v1/runs/loc")
    assert (status, run["state"]) == (200, "FAILED")
    assert [t["state"] for t in run["tasks"]] == ["SUCCESS", "FAILED"]
    assert _call(server.url + "/nothing")[0] == 404
    assert _call(server.url + "/v1/promises/loc.good.1/resolve", {"value": 1}, token="k1.wrong")[0] == 401


def test_the_local_server_refuses_remote_binds() -> None:
    app = create_app(Services(engine=lambda: None, signer=harness_signer()))  # type: ignore[arg-type, return-value]
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    everywhere = "0.0.0.0"  # noqa: S104 - proving it is refused
    assert not is_loopback(everywhere) and not is_loopback("")
    for host in (everywhere, "", _a_non_loopback_address()):
        with pytest.raises(ValueError, match="refusing to listen"):
            serve(app, host, 0)


def _a_non_loopback_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent for UDP connect
            return str(s.getsockname()[0])
        except OSError:
            return "192.0.2.1"


def _call(url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def flow_doc() -> dict[str, Any]:
    from support.flows import flow as build

    return build(
        "nightly",
        [
            job_task("extract_a", params={"run_date": "{{job.parameters.run_date}}"}),
            job_task("extract_b"),
            job_task("combine", ["extract_a", "extract_b"]),
            job_task("report", ["combine"]),
        ],
        params={"run_date": ""},
    ).to_dict()
