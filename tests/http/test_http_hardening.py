"""The security review's findings on the HTTP API (issue 12: 2, 3, 4, 6, 7, 8, 9), each as the
behaviour that must hold. Every test here failed on the resolver before the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.models import Promise, PromiseState
from lambda_resolver.core.promise_machine import MAX_LIFETIME_S
from lambda_resolver.stores.sqlite import SqliteStore
from notebook_lib.handle import decode_handle

from support.flows import flow, job_task
from support.harness import Harness

DENIED = {"error": {"code": "unauthorized", "message": "missing or invalid credentials"}}


def _handle(h: Harness, promise_id: str) -> Any:
    return decode_handle(h.launcher.run_for(promise_id).request.parameters["lakehook"])


# -- 2: the webhook answers without data ----------------------------------------------------------
def test_the_webhook_answers_202_without_the_promise_it_found(
    h: Harness, client: Any, webhook_auth: dict[str, str]
) -> None:
    h.publish(flow("one", [job_task("only")]))
    client.post("/v1/runs", {"flow": "one", "run_id": "wh"}, operator=True)
    dbx = h.launcher.run_for("wh.only.1")
    h.launcher.end(dbx.run_id, "SUCCESS")
    h.engine.settle("wh.only.1", PromiseState.RESOLVED, value={"secret_rows": 12345})
    reply = client.post("/v1/webhooks/databricks", {"run": {"run_id": dbx.run_id}}, headers=webhook_auth)
    assert (reply.status, reply.json) == (202, {"accepted": True})
    assert "12345" not in reply.text and "wh.only.1" not in reply.text


# -- 3: a body must say it is JSON ----------------------------------------------------------------
def test_a_body_without_a_content_type_starts_nothing(h: Harness, client: Any) -> None:
    h.publish(flow("one", [job_task("only")]))
    reply = client.request(
        "POST", "/v1/runs", data=json.dumps({"flow": "one", "run_id": "x1"}), operator=True
    )
    assert reply.status == 415, reply.text
    assert reply.json["error"]["code"] == "unsupported_media_type"
    assert h.store.get_run("x1") is None


def test_a_heartbeat_without_a_body_needs_no_content_type(h: Harness, client: Any) -> None:
    h.publish(flow("one", [job_task("only")]))
    client.post("/v1/runs", {"flow": "one", "run_id": "hb"}, operator=True)
    handle = _handle(h, "hb.only.1")
    reply = client.request("POST", "/v1/promises/hb.only.1/heartbeat", token=handle.token)
    assert reply.status == 200, reply.text


# -- 4: authenticate first, cap bodies --------------------------------------------------------------
def test_an_unauthenticated_request_is_refused_before_its_body_is_read(client: Any) -> None:
    # Not valid JSON: a 400 would show the body was parsed before the credentials were checked.
    for target in ("/v1/runs", "/v1/promises/p1/resolve", "/v1/flows"):
        reply = client.request("POST", target, data="{not json", headers={"Content-Type": "application/json"})
        assert (reply.status, reply.json) == (401, DENIED), target
        assert reply.headers["www-authenticate"].startswith("Bearer")
    wrong_type = client.request("POST", "/v1/runs", data="a=1", headers={"Content-Type": "text/plain"})
    assert wrong_type.status == 401


def test_behind_a_named_api_gateway_stage_credentials_still_come_before_parsing(make_client: Any) -> None:
    from lambda_resolver.http import handle

    from support.events import http_event

    client = make_client(kind="http_api")
    event = http_event(
        "http_api", "POST", "/prod/v1/runs", body="{not json", headers={"content-type": "application/json"}
    )
    event["requestContext"]["stage"] = "prod"
    answer = handle(event, None, client.app)
    assert (answer["statusCode"], json.loads(answer["body"])) == (401, DENIED)


def test_bodies_over_the_routes_cap_are_413_before_anything_else(
    client: Any, webhook_auth: dict[str, str]
) -> None:
    big = {"value": "x" * (1024 * 1024 + 10)}
    for headers in ({}, {"Authorization": "Bearer k1.nonce.mac"}):
        reply = client.post("/v1/promises/p1/resolve", big, headers=headers)
        assert (reply.status, reply.json["error"]["code"]) == (413, "body_too_large")
        assert "at most 1048576" in reply.json["error"]["message"]
    hook = client.post(
        "/v1/webhooks/databricks", {"run": {"run_id": 1}, "pad": "x" * 70_000}, headers=webhook_auth
    )
    assert (hook.status, hook.json["error"]["code"]) == (413, "body_too_large")
    operator = client.post("/v1/flows", {"pad": "x" * (4 * 1024 * 1024)}, operator=True)
    assert (operator.status, operator.json["error"]["code"]) == (413, "body_too_large")


# -- 6: sizes ---------------------------------------------------------------------------------------
def test_a_run_document_stays_under_the_lambda_limit_and_each_value_is_readable(
    h: Harness, client: Any
) -> None:
    keys = [f"t{i:02d}" for i in range(30)]
    h.publish(flow("wide", [job_task(k) for k in keys]))
    client.post("/v1/runs", {"flow": "wide", "run_id": "big"}, operator=True)
    value = "v" * (256 * 1024 - 2)  # 256 KiB of JSON, the largest value a task may return
    for key in keys:
        h.succeed("big", key, value)
    reply = client.get("/v1/runs/big", operator=True)
    assert reply.status == 200
    assert len(json.dumps(reply.text)) < 6_000_000  # as Lambda wraps it, escaped, in its answer
    omitted = [t for t in reply.json["tasks"] if t.get("value_omitted")]
    kept = [t for t in reply.json["tasks"] if not t.get("value_omitted")]
    assert omitted and kept and all(t["value"] is None for t in omitted)
    assert all(t["value"] == value for t in kept)
    one = client.get(f"/v1/runs/big/tasks/{omitted[0]['task_key']}", operator=True)
    assert (one.status, one.json["value"], one.json["state"]) == (200, value, "SUCCESS")
    lean = client.get("/v1/runs/big?values=false", operator=True).json
    assert all(t["value"] is None and t["value_omitted"] for t in lean["tasks"])
    assert client.get("/v1/runs/big/tasks/nope", operator=True).status == 404


def test_a_run_list_that_would_pass_the_limit_stops_early_and_says_so(h: Harness, client: Any) -> None:
    h.publish(flow("p4", [job_task("only")], params={k: "" for k in "abcd"}, max_concurrent_runs=1000))
    params = {k: k * 15_900 for k in "abcd"}  # just under the 64 KiB cap: about 64 KB per summary
    for i in range(90):
        h.start("p4", run_id=f"l{i:02d}", params=params)
    reply = client.get("/v1/runs?limit=1000", operator=True)
    assert reply.status == 200
    assert len(json.dumps(reply.text)) < 6_000_000
    assert reply.json["truncated"] is True and 0 < len(reply.json["runs"]) < 90
    assert "truncated" not in client.get("/v1/runs?limit=10", operator=True).json


def test_parameters_over_their_caps_are_413_and_nothing_is_stored(h: Harness, client: Any) -> None:
    h.publish(flow("p", [job_task("only")], params={"a": "", "b": ""}))
    one_big = client.post(
        "/v1/runs", {"flow": "p", "run_id": "p1", "params": {"a": "x" * 20_000}}, operator=True
    )
    assert one_big.status == 413, one_big.text
    assert (one_big.status, one_big.json["error"]["code"]) == (413, "params_too_large")
    assert "'a'" in one_big.json["error"]["message"]
    total = {"a": "x" * 15_000, "b": ["y" * 15_000] * 4}
    too_many = client.post("/v1/runs", {"flow": "p", "run_id": "p2", "params": total}, operator=True)
    assert (too_many.status, too_many.json["error"]["code"]) == (413, "params_too_large")
    job = {"job_id": 1, "params": {"x": "z" * 20_000}}
    promise = client.post("/v1/promises", {"id": "p3", "job": job}, operator=True)
    assert (promise.status, promise.json["error"]["code"]) == (413, "params_too_large")
    assert h.store.get_run("p1") is None and h.store.get_run("p2") is None
    assert h.store.get_promise("p3") is None


# -- 7: an Idempotency-Key reused for another request is a conflict ---------------------------------
def test_the_same_idempotency_key_with_another_value_is_409(h: Harness, client: Any) -> None:
    client.post("/v1/promises", {"id": "ik"}, operator=True)
    key = {"Idempotency-Key": "nb-1"}
    assert client.post("/v1/promises/ik/resolve", {"value": 1}, headers=key, operator=True).status == 200
    again = client.post("/v1/promises/ik/resolve", {"value": 2}, headers=key, operator=True)
    assert again.status == 409, again.text
    assert (again.status, again.json["error"]["promise"]["value"]) == (409, 1)
    assert client.post("/v1/promises/ik/resolve", {"value": 1}, headers=key, operator=True).status == 200


def test_resonate_resolve_repeats_are_200_and_another_value_is_409(h: Harness, make_client: Any) -> None:
    h.publish(flow("one", [job_task("only")]))
    h.start("one", run_id="rz")
    compat = make_client(resonate_compat=True)
    assert compat.request("POST", "/resolve?id=rz.only.1&value=first").status == 200
    assert compat.request("POST", "/resolve?id=rz.only.1&value=first").status == 200
    other = compat.request("POST", "/resolve?id=rz.only.1&value=second")
    assert other.status == 409, other.text
    assert (other.status, other.json["error"]["promise"]["value"]) == (409, "first")


# -- 8: tokens are bound to the promise's creation ----------------------------------------------------
def test_a_token_from_before_an_id_was_created_again_does_not_open_it(
    tmp_path: Path, make_client: Any
) -> None:
    before = Harness(SqliteStore(tmp_path / "before.db"))
    before.engine.standalone.create("order-7", job={"job_id": 1})
    old_token = _handle(before, "order-7").token
    after = Harness(SqliteStore(tmp_path / "after.db"))  # same server key; the id is created again
    after.engine.standalone.create("order-7", job={"job_id": 1})
    client = make_client(harness=after)
    reply = client.post("/v1/promises/order-7/resolve", {"value": "forged"}, token=old_token)
    assert (reply.status, reply.json) == (401, DENIED)
    assert client.post("/v1/promises/order-7/heartbeat", {}, token=old_token).status == 401
    own = _handle(after, "order-7").token
    assert client.post("/v1/promises/order-7/resolve", {"value": "ok"}, token=own).status == 200


def test_a_promise_from_before_nonces_takes_its_old_token_and_no_other(h: Harness, client: Any) -> None:
    now = h.clock.now()
    h.store.create_promise(
        Promise(id="legacy-1", state=PromiseState.PENDING, created_at=now, timeout_at=now + 60_000)
    )
    legacy = h.signer.token("legacy-1")  # the id-only token an older resolver handed out
    assert legacy.count(".") == 1
    with_nonce = h.signer.token("legacy-1", "AAAAAAAAAAAAAAAA")
    assert client.post("/v1/promises/legacy-1/resolve", {"value": 1}, token=with_nonce).status == 401
    assert client.post("/v1/promises/legacy-1/resolve", {"value": 1}, token=legacy).status == 200


def test_notebook_lib_settles_with_handles_of_either_form(h: Harness) -> None:
    """notebook_lib is unchanged: a handle minted before nonces and one minted after both work."""
    from lambda_resolver.http import Services, create_app
    from lambda_resolver.http.local_server import serve
    from notebook_lib import heartbeat, notify_done
    from notebook_lib.handle import encode_handle

    server = serve(create_app(Services(engine=lambda: h.engine, signer=h.signer)), "127.0.0.1", 0)
    try:
        now = h.clock.now()
        legacy = Promise(id="nb-old", state=PromiseState.PENDING, created_at=now, timeout_at=now + 60_000)
        h.store.create_promise(legacy)
        old_handle = encode_handle(server.url, "nb-old", h.signer.token("nb-old"))
        h.engine.standalone.create("nb-new", job={"job_id": 1})
        new_token = _handle(h, "nb-new").token  # as the launcher handed it out, sent to this server
        new_handle = encode_handle(server.url, "nb-new", new_token)
        for pid, handle in (("nb-old", old_handle), ("nb-new", new_handle)):
            assert heartbeat(handle=handle, timeout_s=10)["state"] == "PENDING"
            done = notify_done({"pid": pid}, handle=handle, timeout_s=10)
            assert (done["state"], done["value"]) == ("RESOLVED", {"pid": pid})
    finally:
        server.close()


def test_a_new_promises_token_carries_its_nonce_and_the_id_only_form_is_refused(
    h: Harness, client: Any
) -> None:
    h.engine.standalone.create("fresh-1", job={"job_id": 1})
    token = _handle(h, "fresh-1").token
    nonce = h.store.get_promise("fresh-1").nonce
    assert nonce and token.split(".")[1] == nonce
    id_only = h.signer.token("fresh-1")
    assert client.post("/v1/promises/fresh-1/resolve", {"value": 1}, token=id_only).status == 401
    assert client.post("/v1/promises/fresh-1/resolve", {"value": 1}, token=token).status == 200


def test_heartbeats_never_move_a_deadline_past_the_cap(h: Harness, client: Any) -> None:
    client.post("/v1/promises", {"id": "hb-cap", "timeout_s": 3600}, operator=True)
    start = h.store.get_promise("hb-cap").created_at
    cap = start + MAX_LIFETIME_S * 1000
    for _ in range(7):  # nearly a day apart, each heartbeat asking for a week more
        reply = client.post("/v1/promises/hb-cap/heartbeat", {"extend_s": 7 * 24 * 3600}, operator=True)
        assert reply.status == 200, reply.text
        assert h.store.get_promise("hb-cap").timeout_at <= cap
        h.clock.advance(23 * 3600 * 1000)
    assert h.store.get_promise("hb-cap").timeout_at == cap
    h.clock.advance(cap - h.clock.now())
    late = client.post("/v1/promises/hb-cap/heartbeat", {"extend_s": 60}, operator=True)
    assert (late.status, late.json["error"]["promise"]["state"]) == (409, "REJECTED_TIMEDOUT")


# -- 9: standalone ids cannot take a task attempt's shape -------------------------------------------
@pytest.mark.parametrize("pid", ["r1.a.1", "nightly-2026.extract_a.2", "a.b.c.10"])
def test_a_standalone_promise_cannot_take_a_task_attempts_id(h: Harness, client: Any, pid: str) -> None:
    reply = client.post("/v1/promises", {"id": pid}, operator=True)
    assert reply.status == 400, reply.text
    assert (reply.status, reply.json["error"]["code"]) == (400, "bad_request")
    assert "reserved" in reply.json["error"]["message"]
    assert h.store.get_promise(pid) is None


def test_a_run_never_adopts_a_standalone_promise(h: Harness, client: Any) -> None:
    client.post("/v1/promises", {"id": "adopt.only.1"}, operator=True)
    h.publish(flow("one", [job_task("only")]))
    client.post("/v1/runs", {"flow": "one", "run_id": "adopt"}, operator=True)
    promise = h.store.get_promise("adopt.only.1")
    assert promise is not None and promise.run_id == "adopt"  # the attempt's own promise
    assert h.task("adopt", "only").state.value == "RUNNING"
    assert [r.request.promise_id for r in h.launcher.runs.values()] == ["adopt.only.1"]


@pytest.mark.parametrize("pid", ["order-1", "order:1.2", "a.b", "v1.2.x"])
def test_other_dotted_ids_stay_valid_for_standalone_promises(client: Any, pid: str) -> None:
    assert client.post("/v1/promises", {"id": pid}, operator=True).status == 201
