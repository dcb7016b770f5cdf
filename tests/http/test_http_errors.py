"""Every error answers in one shape, ``{"error": {"code", "message", ...}}``, with its own status;
an unexpected exception is a 500 that echoes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.flows import flow, job_task
from support.harness import Harness


@pytest.fixture
def pid(h: Harness, client: Any) -> str:
    """A running task's promise id (settled below with operator credentials)."""
    h.publish(flow("one", [job_task("only")]))
    client.post("/v1/runs", {"flow": "one", "run_id": "e1"}, operator=True)
    return str(h.task("e1", "only").promise_id)


def _error(reply: Any) -> dict[str, Any]:
    body = reply.json
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "case",
    [
        ("{bad json", "application/json", 400, "bad_request", "not valid JSON"),
        ('{"value": NaN}', "application/json", 400, "bad_request", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400, "bad_request", "not valid JSON"),
        ("[1, 2]", "application/json", 400, "bad_request", "not a JSON object"),
        ('"just a string"', "application/json", 400, "bad_request", "not a JSON object"),
        ("null", "application/json", 400, "bad_request", "empty"),
        (None, "application/json", 400, "bad_request", "empty"),
        ("value=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type", "application/json"),
        ('{"value": 1}', "text/plain", 415, "unsupported_media_type", "application/json"),
        (b"\x89PNG\r\n\x1a\n\x00\xff", "image/png", 415, "unsupported_media_type", "application/json"),
        ('{"value": 1}', "application/json; charset=utf-8", 200, None, None),
        # no Content-Type is not JSON: a browser's cross-site fetch can send a body without one
        ('{"value": 1}', None, 415, "unsupported_media_type", "no Content-Type"),
    ],
)
def test_request_bodies_must_be_json_objects(client: Any, pid: str, case: tuple[Any, ...]) -> None:
    data, content_type, status, code, says = case
    headers = {"Content-Type": content_type} if content_type else {}
    reply = client.request("POST", f"/v1/promises/{pid}/resolve", data=data, headers=headers, operator=True)
    assert reply.status == status, reply.text
    if code is not None:
        err = _error(reply)
        assert err["code"] == code and says in err["message"]


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("resolve", {}, [{"field": "value", "in": "body", "problem": "Field required"}]),
        ("resolve", {"value": 1, "vale": 2}, [{"field": "vale", "in": "body", "problem": "unknown field"}]),
        (
            "reject",
            {"error": {"type": "E"}},
            [{"field": "error.message", "in": "body", "problem": "Field required"}],
        ),
        (
            "heartbeat",
            {"extend_s": -5},
            [{"field": "extend_s", "in": "body", "problem": "Input should be greater than 0"}],
        ),
    ],
)
def test_a_body_of_the_wrong_shape_is_422_in_our_shape(
    client: Any, pid: str, path: str, body: Any, fields: list[dict[str, str]]
) -> None:
    reply = client.post(f"/v1/promises/{pid}/{path}", body, operator=True)
    assert reply.status == 422
    err = _error(reply)
    assert err["code"] == "invalid_request"
    assert err["fields"] == fields
    assert err["message"] == "; ".join(f"{f['field']}: {f['problem']}" for f in fields)


def test_blank_query_parameters_mean_not_given(client: Any) -> None:
    reply = client.get("/v1/runs?flow=&state=&limit=5", operator=True)
    assert (reply.status, reply.json) == (200, {"runs": [], "next_cursor": None})


def test_bad_query_parameters_are_422_naming_the_parameter(client: Any) -> None:
    reply = client.get("/v1/runs?state=DONE&limit=0", operator=True)
    err = _error(reply)
    assert (reply.status, err["code"]) == (422, "invalid_request")
    assert {f["field"] for f in err["fields"]} == {"state", "limit"}
    assert all(f["in"] == "query" for f in err["fields"])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/promises/has%20space/resolve",
        "/v1/promises/a%2Fb/resolve",
        "/v1/promises/" + "x" * 129 + "/resolve",
        "/v1/promises/semi%3Bcolon/resolve",
    ],
)
def test_an_invalid_id_is_400(client: Any, path: str) -> None:
    reply = client.post(path, {"value": 1}, operator=True)
    assert (reply.status, _error(reply)["code"]) == (400, "invalid_id")


def test_percent_encoded_ids_are_decoded(h: Harness, client: Any) -> None:
    h.publish(flow("one", [job_task("only")]))
    client.post("/v1/runs", {"flow": "one", "run_id": "ns:2026"}, operator=True)
    reply = client.post(
        "/v1/promises/ns%3A2026.only.1/resolve", {"value": 1}, operator=True
    )  # quote(id, safe='')
    assert (reply.status, reply.json["id"]) == (200, "ns:2026.only.1")


def test_an_oversize_value_is_413_with_the_hint(client: Any, pid: str) -> None:
    reply = client.post(f"/v1/promises/{pid}/resolve", {"value": "x" * (256 * 1024)}, operator=True)
    err = _error(reply)
    assert (reply.status, err["code"]) == (413, "value_too_large")
    assert "table" in err["message"] and "volume" in err["message"]
    fits = client.post(f"/v1/promises/{pid}/resolve", {"value": "x" * (256 * 1024 - 2)}, operator=True)
    assert fits.status == 200  # the limit is on the compact JSON: the quotes count


def test_a_duplicate_settle_is_200_with_the_same_document(client: Any, pid: str) -> None:
    first = client.post(f"/v1/promises/{pid}/resolve", {"value": {"rows": 3}}, operator=True)
    again = client.post(f"/v1/promises/{pid}/resolve", {"value": {"rows": 3}}, operator=True)
    assert (first.status, again.status) == (200, 200)
    assert again.json == first.json


def test_a_conflicting_settle_is_409_carrying_the_stored_promise(client: Any, pid: str) -> None:
    first = client.post(f"/v1/promises/{pid}/resolve", {"value": 1}, operator=True)
    for path, body in (("resolve", {"value": 2}), ("reject", {"error": {"message": "late"}})):
        reply = client.post(f"/v1/promises/{pid}/{path}", body, operator=True)
        err = _error(reply)
        assert (reply.status, err["code"]) == (409, "already_settled")
        assert err["promise"] == first.json


def test_an_unknown_promise_is_404(client: Any) -> None:
    reply = client.post("/v1/promises/nobody.here.1/resolve", {"value": 1}, operator=True)
    assert (reply.status, _error(reply)["code"]) == (404, "not_found")
    assert client.get("/v1/runs/nobody", operator=True).status == 404
    assert _error(client.post("/v1/runs", {"flow": "ghost"}, operator=True))["code"] == "unknown_flow"


def test_unknown_routes_are_404_and_wrong_methods_405_in_our_shape(client: Any, pid: str) -> None:
    missing = client.get("/v2/nothing")
    assert (missing.status, _error(missing)["code"]) == (404, "not_found")
    wrong = client.request("DELETE", f"/v1/promises/{pid}/resolve", operator=True)
    assert (wrong.status, _error(wrong)["code"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "POST"
    assert client.request("PUT", "/v1/runs").headers["allow"] == "GET, POST"


def test_an_unexpected_exception_is_a_500_that_echoes_nothing(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def broken_engine() -> Any:
        calls.append(1)
        raise RuntimeError("secret text")

    client = make_client(engine=broken_engine)
    for method, path, body in (
        ("POST", "/v1/promises/p1/resolve", {"value": 1}),
        ("GET", "/v1/runs/r1", None),
    ):
        kw = {"json_body": body} if body is not None else {}
        reply = client.request(method, path, operator=True, **kw)
        assert (reply.status, reply.json) == (
            500,
            {"error": {"code": "internal", "message": "internal error"}},
        )
        assert "secret text" not in reply.text and "RuntimeError" not in reply.text
    assert len(calls) == 2  # a factory that failed is tried again on the next request
    assert "secret text" in caplog.text  # logged for the operator, with its traceback


def test_a_malformed_event_is_400_not_a_crash(client: Any) -> None:
    from lambda_resolver.http import handle

    answer = handle({"requestContext": {"http": {"method": "GET"}}}, None, client.app)
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["error"]["code"] == "bad_request"


def test_health_is_open(client: Any) -> None:
    reply = client.get("/healthz")
    assert (reply.status, reply.json) == (200, {"ok": True})
