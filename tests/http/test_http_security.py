"""Who may call what: a promise's token settles that promise only; the operator door takes the
operator key only; the webhook takes its Basic credentials only; nothing logs a token."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.core.manifest import FlowManifest
from notebook_lib.handle import decode_handle

from support.flows import flow, job_task
from support.harness import Harness

DENIED = {"error": {"code": "unauthorized", "message": "missing or invalid credentials"}}


@pytest.fixture
def two_tasks(h: Harness, client: Any) -> dict[str, Any]:
    """A run with two running tasks; their promise ids and real tokens."""
    h.publish(flow("pair", [job_task("a"), job_task("b")]))
    assert client.post("/v1/runs", {"flow": "pair", "run_id": "s1"}, operator=True).status == 201
    handles = {k: decode_handle(h.params_of("s1", k)["lakehook"]) for k in ("a", "b")}
    return {k: (hd.promise_id, hd.token) for k, hd in handles.items()}


def _forged(pid: str) -> str:
    return TokenSigner({"k1": b"another-server-key-0123456789"}, "k1").token(pid)


def _other_kid(pid: str) -> str:
    return TokenSigner({"k9": b"0123456789abcdef0123456789abcdef"}, "k9").token(pid)


BAD_CREDENTIALS = {
    "missing": lambda pid, tokens: {},
    "not bearer": lambda pid, tokens: {"Authorization": f"Basic {tokens['a'][1]}"},
    "empty bearer": lambda pid, tokens: {"Authorization": "Bearer "},
    "malformed": lambda pid, tokens: {"Authorization": "Bearer not-a-token"},
    "non-ascii": lambda pid, tokens: {"Authorization": "Bearer k1.é∂ƒ"},
    "forged with another key": lambda pid, tokens: {"Authorization": f"Bearer {_forged(pid)}"},
    "signed under an unknown key id": lambda pid, tokens: {"Authorization": f"Bearer {_other_kid(pid)}"},
    "another promise's token": lambda pid, tokens: {"Authorization": f"Bearer {tokens['b'][1]}"},
    "truncated": lambda pid, tokens: {"Authorization": f"Bearer {tokens['a'][1][:-2]}"},
    "operator header, wrong key": lambda pid, tokens: {"X-Lakehook-Operator-Key": "x" * 32},
}


@pytest.mark.parametrize("case", sorted(BAD_CREDENTIALS))
@pytest.mark.parametrize("action", ["resolve", "reject", "heartbeat"])
def test_a_settle_without_the_promises_own_token_is_401_and_says_nothing_more(
    client: Any, two_tasks: dict[str, Any], h: Harness, case: str, action: str
) -> None:
    pid = two_tasks["a"][0]
    body = {"resolve": {"value": 1}, "reject": {"error": {"message": "no"}}, "heartbeat": {}}[action]
    reply = client.post(f"/v1/promises/{pid}/{action}", body, headers=BAD_CREDENTIALS[case](pid, two_tasks))
    assert (reply.status, reply.json) == (401, DENIED)
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert h.store.get_promise(pid).state.value == "PENDING"


def test_the_right_token_settles_its_promise_and_only_that_one(
    client: Any, two_tasks: dict[str, Any]
) -> None:
    (pid_a, token_a), (pid_b, _) = two_tasks["a"], two_tasks["b"]
    assert client.post(f"/v1/promises/{pid_b}/resolve", {"value": 1}, token=token_a).status == 401
    assert client.post(f"/v1/promises/{pid_a}/resolve", {"value": 1}, token=token_a).status == 200


def test_operator_credentials_settle_any_promise(
    client: Any, two_tasks: dict[str, Any], operator_key: str
) -> None:
    pid_a, pid_b = two_tasks["a"][0], two_tasks["b"][0]
    by_header = client.post(f"/v1/promises/{pid_a}/resolve", {"value": "ops"}, operator=True)
    by_bearer = client.post(f"/v1/promises/{pid_b}/reject", {"error": {"message": "ops"}}, token=operator_key)
    assert (by_header.status, by_bearer.status) == (200, 200)


OPERATOR_ROUTES = [
    ("POST", "/v1/runs", {"flow": "pair"}),
    ("GET", "/v1/runs", None),
    ("GET", "/v1/runs/s1", None),
    ("POST", "/v1/runs/s1/cancel", None),
    ("POST", "/v1/promises", {"id": "p-new"}),
    ("GET", "/v1/promises/s1.a.1", None),
    ("POST", "/v1/flows", {"name": "x", "tasks": []}),
    ("GET", "/v1/flows", None),
    ("GET", "/v1/flows/pair", None),
]


@pytest.mark.parametrize(("method", "path", "body"), OPERATOR_ROUTES)
def test_operator_routes_refuse_callback_tokens_and_missing_credentials(
    client: Any, two_tasks: dict[str, Any], method: str, path: str, body: Any
) -> None:
    kw = {"json_body": body} if body is not None else {}
    for token in (two_tasks["a"][1], None):
        reply = client.request(method, path, token=token, **kw)
        assert (reply.status, reply.json) == (401, DENIED)
    assert client.request(method, path, operator=True, **kw).status not in (401, 403)  # let in


def test_a_closed_operator_door_is_403_and_an_open_one_admits_loopback_callers(
    h: Harness, make_client: Any
) -> None:
    h.publish(flow("one", [job_task("only")]))
    closed = make_client(operator_key=None)
    reply = closed.get("/v1/runs", operator=True)
    assert reply.status == 403 and reply.json["error"]["code"] == "forbidden"
    opened = make_client(operator_key=None, operator_open=True)
    assert opened.post("/v1/runs", {"flow": "one", "run_id": "o1"}).status == 201
    pid = opened.get("/v1/runs/o1").json["tasks"][0]["promise_id"]
    assert opened.get("/v1/runs", token="k1.bogus").status == 401  # presented and wrong: refused
    assert opened.post(f"/v1/promises/{pid}/resolve", {"value": 1}, token="k1.bogus").status == 401
    assert opened.post(f"/v1/promises/{pid}/resolve", {"value": 1}).status == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic " + base64.b64encode(b"databricks:wrong").decode(), "Basic !!!", "Bearer x"],
)
def test_the_webhook_without_its_basic_credentials_is_401(client: Any, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    reply = client.post("/v1/webhooks/databricks", {"run": {"run_id": 1}}, headers=headers)
    assert (reply.status, reply.json) == (401, DENIED)
    assert reply.headers["www-authenticate"].startswith("Basic")


def test_an_unconfigured_webhook_is_404(make_client: Any, webhook_auth: dict[str, str]) -> None:
    reply = make_client(webhook_credentials=None).post(
        "/v1/webhooks/databricks", {"run": {}}, headers=webhook_auth
    )
    assert reply.status == 404 and "not configured" in reply.json["error"]["message"]


def test_the_resonate_route_is_404_unless_enabled(h: Harness, make_client: Any) -> None:
    h.publish(flow("one", [job_task("only")]))
    h.start("one", run_id="rc")
    pid = h.task("rc", "only").promise_id
    off = make_client().post(f"/resolve?id={pid}&value=hello%20world")
    assert (off.status, off.json["error"]["code"]) == (404, "not_found")
    on = make_client(resonate_compat=True)
    reply = on.request("POST", f"/resolve?id={pid}&value=hello%20world")
    assert reply.status == 200, reply.text
    assert (reply.json["state"], reply.json["value"]) == ("RESOLVED", "hello world")
    assert on.request("POST", f"/resolve?id={pid}&value=hello%20world").status == 200  # a retry
    assert on.request("POST", "/resolve?id=nope&value=1").status == 404


def test_a_resonate_value_that_is_a_json_object_is_kept_as_json(h: Harness, make_client: Any) -> None:
    h.publish(flow("one", [job_task("only")]))
    h.start("one", run_id="rj")
    pid = h.task("rj", "only").promise_id
    reply = make_client(resonate_compat=True).request(
        "POST", f"/resolve?id={pid}&value=%7B%22rows%22%3A%203%7D"
    )
    assert reply.json["value"] == {"rows": 3}


def test_no_token_or_handle_appears_in_the_logs_of_a_whole_run(
    h: Harness, client: Any, nightly_flow: FlowManifest, caplog: pytest.LogCaptureFixture, operator_key: str
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/v1/flows", nightly_flow.to_dict(), operator=True)
    client.post("/v1/runs", {"flow": "nightly", "run_id": "logs"}, operator=True)
    secrets = {operator_key}
    settled: set[str] = set()
    while len(settled) < 4:
        for run in list(h.launcher.runs.values()):
            handle_text = run.request.parameters["lakehook"]
            handle = decode_handle(handle_text)
            if handle.promise_id in settled:
                continue
            secrets |= {handle.token, handle_text}
            client.post(f"/v1/promises/{handle.promise_id}/heartbeat", {}, token=handle.token)
            client.post(
                f"/v1/promises/{handle.promise_id}/resolve", {"value": {"rows": 1}}, token=handle.token
            )
            client.post(f"/v1/promises/{handle.promise_id}/resolve", {"value": 2}, token=handle.token)  # 409
            client.post(f"/v1/promises/{handle.promise_id}/resolve", {"value": 2}, token=handle.token + "x")
            settled.add(handle.promise_id)
    assert client.get("/v1/runs/logs", operator=True).json["state"] == "SUCCESS"
    assert len(caplog.records) > 10  # the access log did log
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for secret in secrets:
        assert secret not in text
