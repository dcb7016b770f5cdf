"""notify_done / notify_failed / heartbeat against a real HTTP resolver on loopback."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

from notebook_lib import (
    AlreadySettledError,
    CallbackRejected,
    DeliveryError,
    LakehookError,
    ValueTooLargeError,
    encode_handle,
    heartbeat,
    notify_done,
    notify_failed,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_notify_done_posts_the_value_with_the_bearer_token_and_returns_the_promise(
    server: Any, handle: str, token: str
) -> None:
    doc = notify_done({"rows": 10}, handle=handle)
    (req,) = server.requests
    assert req.path == "/v1/promises/p-1/resolve"
    assert req.headers["Authorization"] == f"Bearer {token}"
    assert req.headers["Content-Type"] == "application/json"
    assert UUID.match(req.headers["Idempotency-Key"])
    assert req.body == {"value": {"rows": 10}}
    assert doc is not None
    assert doc["state"] == "RESOLVED"
    assert doc["value"] == {"rows": 10}
    assert set(doc) == {"id", "state", "value", "error", "created_at", "settled_at", "timeout_at"}


def test_notify_done_without_a_value_resolves_with_null(server: Any, handle: str) -> None:
    notify_done(handle=handle)
    assert server.requests[0].body == {"value": None}


def test_the_promise_id_is_url_quoted_in_the_path(server: Any, token: str) -> None:
    notify_done(1, handle=encode_handle(server.url, "flow:run-1.task", token))
    assert server.requests[0].path == "/v1/promises/flow%3Arun-1.task/resolve"


def test_a_201_answer_counts_as_success(server: Any, handle: str) -> None:
    server.script(201)
    assert notify_done(1, handle=handle)["state"] == "RESOLVED"  # type: ignore[index]


@pytest.mark.parametrize("failure", [500, 502, 503, 504, 404, 408, 429, "drop"])
def test_a_retryable_failure_followed_by_success_delivers_the_value(
    server: Any, handle: str, failure: Any
) -> None:
    server.script(failure, 200)
    assert notify_done({"n": 1}, handle=handle)["value"] == {"n": 1}  # type: ignore[index]
    assert len(server.requests) == 2


def test_a_404_racing_the_promises_creation_is_retried_until_it_exists(server: Any, handle: str) -> None:
    server.script(404, 404, 200)
    assert notify_done("v", handle=handle)["state"] == "RESOLVED"  # type: ignore[index]
    assert [r.path for r in server.requests] == ["/v1/promises/p-1/resolve"] * 3


def test_connection_refused_is_retried_until_the_resolver_comes_up(
    make_server: Any, free_port: int, token: str
) -> None:
    late = make_server(port=free_port)  # nothing listens there for the first 0.2 s
    timer = threading.Timer(0.2, late.start)
    timer.start()
    try:
        doc = notify_done(5, handle=encode_handle(late.url, "p-1", token), timeout_s=5)
    finally:
        timer.join()
    assert doc is not None
    assert doc["value"] == 5
    assert len(late.requests) == 1


def test_a_read_timeout_is_retried(server: Any, handle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOOK_ATTEMPT_TIMEOUT_S", "0.3")
    server.stall_s = 1.0
    server.script("stall", 200)
    started = time.monotonic()
    assert notify_done(1, handle=handle)["state"] == "RESOLVED"  # type: ignore[index]
    assert len(server.requests) == 2
    assert time.monotonic() - started < 1.0  # gave up on the stalled attempt, did not wait it out


def test_a_429_waits_for_retry_after_seconds_before_retrying(server: Any, handle: str) -> None:
    server.script({"status": 429, "headers": {"Retry-After": "1"}}, 200)
    notify_done(1, handle=handle)
    first, second = server.requests
    assert second.at - first.at >= 0.95


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(server: Any, handle: str) -> None:
    server.script({"status": 503, "headers": {"Retry-After": "30"}})
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="asked to retry after 30 s, past the deadline"):
        notify_done(1, handle=handle, timeout_s=5)
    assert time.monotonic() - started < 1.0
    assert len(server.requests) == 1


def test_the_idempotency_key_is_the_same_across_retries_and_new_for_each_call(
    server: Any, handle: str
) -> None:
    server.script(503, "drop", 200, 200)
    notify_done(1, handle=handle)
    notify_done(1, handle=handle)
    keys = [r.headers["Idempotency-Key"] for r in server.requests]
    assert len(keys) == 4
    assert keys[0] == keys[1] == keys[2]
    assert keys[3] != keys[0]


def test_exhausted_retries_raise_delivery_error_with_attempts_duration_and_last_status(
    server: Any, handle: str
) -> None:
    server.fallback = 503
    started = time.monotonic()
    with pytest.raises(DeliveryError) as info:
        notify_done(1, handle=handle, timeout_s=0.6)
    elapsed = time.monotonic() - started
    err = info.value
    assert 0.5 <= elapsed < 1.2  # retried until (about) the deadline, not beyond it
    assert err.attempts == len(server.requests) >= 2
    assert err.last_status == 503
    assert f"after {err.attempts} attempt(s) over" in str(err)
    assert "HTTP 503 status_503: scripted 503" in str(err)


def test_the_callback_timeout_environment_variable_bounds_the_retries(
    server: Any, handle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEHOOK_CALLBACK_TIMEOUT_S", "0.5")
    server.fallback = "drop"
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"deadline 0\.5 s") as info:
        notify_done(1, handle=handle)
    assert time.monotonic() - started < 1.2
    assert info.value.last_status is None
    assert "ConnectionError" in info.value.last_error


def test_a_bad_timeout_setting_is_refused(handle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="timeout_s must be a positive"):
        notify_done(1, handle=handle, timeout_s=0)
    monkeypatch.setenv("LAKEHOOK_CALLBACK_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="LAKEHOOK_CALLBACK_TIMEOUT_S must be a number"):
        notify_done(1, handle=handle)


def test_a_409_raises_already_settled_with_the_stored_promise_and_is_not_retried(
    server: Any, handle: str
) -> None:
    stored = {"id": "p-1", "state": "REJECTED_TIMEDOUT", "value": None, "error": {"message": "timed out"}}
    server.script(
        {
            "status": 409,
            "body": {
                "error": {
                    "code": "already_settled",
                    "message": "settled as REJECTED_TIMEDOUT",
                    "promise": stored,
                }
            },
        }
    )
    with pytest.raises(AlreadySettledError) as info:
        notify_done({"late": True}, handle=handle)
    assert info.value.promise == stored
    assert "already settled differently or timed out (state REJECTED_TIMEDOUT)" in str(info.value)
    assert isinstance(info.value, LakehookError)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "bad_request"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (413, "value_too_large"),
        (422, "invalid"),
    ],
)
def test_a_client_error_raises_callback_rejected_with_the_servers_code_and_is_not_retried(
    server: Any, handle: str, status: int, code: str
) -> None:
    server.script({"status": status, "body": {"error": {"code": code, "message": f"nope {status}"}}})
    with pytest.raises(CallbackRejected) as info:
        notify_done(1, handle=handle)
    assert (info.value.status, info.value.code, info.value.server_message) == (status, code, f"nope {status}")
    assert f"HTTP {status} {code}: nope {status}" in str(info.value)
    assert len(server.requests) == 1


def test_notify_failed_sends_the_exceptions_type_message_and_traceback(server: Any, handle: str) -> None:
    def load_rows() -> None:
        raise ValueError("bad rows in 2026-11-23")

    try:
        load_rows()
    except ValueError as exc:
        doc = notify_failed(exc, handle=handle)
    (req,) = server.requests
    assert req.path == "/v1/promises/p-1/reject"
    error = req.body["error"]
    assert (error["type"], error["message"]) == ("ValueError", "bad rows in 2026-11-23")
    assert "in load_rows" in error["traceback"]
    assert error["traceback"].rstrip().endswith("ValueError: bad rows in 2026-11-23")
    assert doc is not None
    assert doc["state"] == "REJECTED"


def test_notify_failed_with_a_string_sends_type_error(server: Any, handle: str) -> None:
    notify_failed("upstream file missing", handle=handle)
    assert server.requests[0].body == {
        "error": {"type": "Error", "message": "upstream file missing", "traceback": ""}
    }


def test_a_deep_traceback_is_trimmed_to_the_last_20_frames_and_8_kib(server: Any, handle: str) -> None:
    def recurse(n: int) -> None:
        if n == 0:
            raise RuntimeError("x" * 20_000)
        recurse(n - 1)

    try:
        recurse(60)
    except RuntimeError as exc:
        notify_failed(exc, handle=handle)
    error = server.requests[0].body["error"]
    assert error["traceback"].count("in recurse") <= 20
    assert len(error["traceback"].encode()) <= 8192
    assert len(error["message"].encode()) <= 8192
    assert error["message"].endswith("...(truncated)")


def test_heartbeat_posts_an_empty_body_or_the_extension(server: Any, handle: str) -> None:
    doc = heartbeat(handle=handle)
    heartbeat(handle=handle, extend_s=600)
    assert [r.path for r in server.requests] == ["/v1/promises/p-1/heartbeat"] * 2
    assert [r.body for r in server.requests] == [{}, {"extend_s": 600}]
    assert doc is not None
    assert doc["state"] == "PENDING"


def test_heartbeat_refuses_a_non_positive_extension(handle: str) -> None:
    with pytest.raises(ValueError, match="extend_s must be a positive"):
        heartbeat(handle=handle, extend_s=0)


def test_an_oversize_value_raises_before_any_request(server: Any, handle: str) -> None:
    with pytest.raises(ValueTooLargeError, match="256 KiB"):
        notify_done({"rows": ["x" * 1000] * 300}, handle=handle)
    assert server.requests == []


def test_a_non_json_value_raises_type_error_before_any_request(server: Any, handle: str) -> None:
    with pytest.raises(TypeError, match=r"^value\['when'\]: object of type object"):
        notify_done({"when": object()}, handle=handle)
    assert server.requests == []


def test_an_injected_session_carries_the_calls(handle: str, server: Any) -> None:
    import requests

    class CountingSession(requests.Session):
        calls = 0

        def post(self, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            CountingSession.calls += 1
            return super().post(url, *args, **kwargs)

    with CountingSession() as session:
        notify_done(1, handle=handle, session=session)
    assert CountingSession.calls == 1
    assert len(server.requests) == 1
