"""The promise token never shows: not in logs, warnings, output, exceptions, reprs, or rejects."""

from __future__ import annotations

import logging
import socket
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from notebook_lib import LakehookError, Step, decode_handle, encode_handle, notify_done, notify_failed, step


def _texts(exc: BaseException) -> list[str]:
    """Everything an exception can show: str, repr, args, attributes, the formatted chain."""
    return [
        str(exc),
        repr(exc),
        repr(exc.args),
        repr(vars(exc)),
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    ]


def _scenarios(token: str) -> dict[str, tuple[Any, Callable[[Any, str], None]]]:
    """name -> (server fallback reply, call that must raise a LakehookError)."""
    echo = f"token {token} is not valid for this promise"  # a resolver that (wrongly) echoes it
    return {
        "409": (
            {
                "status": 409,
                "body": {"error": {"code": "already_settled", "message": echo, "promise": {"id": "p-1"}}},
            },
            lambda srv, h: notify_done(1, handle=h),
        ),
        "401 echoing the token": (
            {"status": 401, "body": {"error": {"code": "unauthorized", "message": echo}}},
            lambda srv, h: notify_done(1, handle=h),
        ),
        "500 echoing the token, exhausted": (
            {"status": 500, "body": {"error": {"code": "internal", "message": echo}}},
            lambda srv, h: notify_done(1, handle=h, timeout_s=0.3),
        ),
        "dropped connections, exhausted": ("drop", lambda srv, h: notify_done(1, handle=h, timeout_s=0.3)),
        "connection refused, exhausted": (
            200,
            lambda srv, h: notify_done(
                1, handle=encode_handle(f"http://127.0.0.1:{_closed_port()}", "p-1", token), timeout_s=0.3
            ),
        ),
        "reject 403": (
            {"status": 403, "body": {"error": {"code": "forbidden", "message": echo}}},
            lambda srv, h: notify_failed("x", handle=h),
        ),
        "a handle with a bad url": (
            200,
            lambda srv, h: notify_done(1, handle=_bad_url_handle(token)),
        ),
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bad_url_handle(token: str) -> str:
    import base64
    import json

    doc = json.dumps({"u": f"ftp://{token}", "p": "p-1", "t": token}).encode()
    return "lh1." + base64.urlsafe_b64encode(doc).decode()


@pytest.mark.parametrize("name", list(_scenarios("t")))
def test_no_failure_shows_the_token_in_exceptions_logs_warnings_or_output(
    name: str,
    server: Any,
    *,
    handle: str,
    token: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fallback, call = _scenarios(token)[name]
    server.fallback = fallback
    caplog.set_level(logging.DEBUG)  # urllib3's debug lines included
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises((LakehookError, ValueError)) as info:
            call(server, handle)
    out, err = capsys.readouterr()
    shown = [*_texts(info.value), caplog.text, out, err, *(str(w.message) for w in caught)]
    assert all(token not in text for text in shown), name
    if server.requests:  # the token did travel, in the Authorization header only
        assert server.requests[0].headers["Authorization"] == f"Bearer {token}"


def test_a_reject_never_carries_the_token_even_if_the_failure_quoted_it(
    server: Any, handle: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def leaky() -> None:
        raise RuntimeError(f"could not use handle with token {token}")

    with pytest.raises(RuntimeError):
        with step(handle=handle):
            leaky()
    error = server.requests[0].body["error"]
    assert error["message"] == "could not use handle with token ***"
    assert token not in error["traceback"]
    assert "token ***" in error["traceback"]
    assert token not in caplog.text


def test_reprs_of_handles_and_steps_hide_the_token(handle: str, token: str) -> None:
    assert token not in repr(decode_handle(handle))
    s = Step(handle=handle)
    assert token not in repr(s)
    assert token not in str(decode_handle(handle))


def test_the_token_is_not_in_the_request_url_or_body(server: Any, handle: str, token: str) -> None:
    notify_done({"rows": 1}, handle=handle)
    req = server.requests[0]
    assert token not in req.path
    assert token not in repr(req.body)
