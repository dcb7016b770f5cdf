"""step(): done on success, failed and re-raised on exception; as a block or a decorator."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

import pytest

from notebook_lib import Step, step


class ExtractError(Exception):
    pass


def test_step_as_a_block_resolves_with_s_value(server: Any, handle: str) -> None:
    with step(handle=handle) as s:
        s.value = {"rows": 10}
    assert [(r.path, r.body) for r in server.requests] == [
        ("/v1/promises/p-1/resolve", {"value": {"rows": 10}})
    ]
    assert s.result is not None
    assert s.result["state"] == "RESOLVED"


def test_step_as_a_block_without_a_value_resolves_with_null(server: Any, handle: str) -> None:
    with step(handle=handle):
        pass
    assert server.requests[0].body == {"value": None}


def test_step_as_a_decorator_resolves_with_the_return_value_and_returns_it(server: Any, handle: str) -> None:
    @step(handle=handle)
    def main(n: int) -> dict[str, int]:
        """Count the rows."""
        return {"rows": n}

    assert main(3) == {"rows": 3}
    assert main.__name__ == "main"
    assert main.__doc__ == "Count the rows."
    assert server.requests[0].body == {"value": {"rows": 3}}


def test_step_as_a_block_rejects_with_the_exception_and_reraises_it(server: Any, handle: str) -> None:
    def extract() -> None:
        raise ExtractError("source table is empty")

    with pytest.raises(ExtractError, match="source table is empty"):
        with step(handle=handle) as s:
            s.value = {"never": "sent"}
            extract()
    (req,) = server.requests
    assert req.path == "/v1/promises/p-1/reject"
    error = req.body["error"]
    assert (error["type"], error["message"]) == ("ExtractError", "source table is empty")
    assert "in extract" in error["traceback"]


def test_step_as_a_decorator_rejects_and_reraises_the_original_exception(server: Any, handle: str) -> None:
    original = KeyError("run_date")

    @step(handle=handle)
    def main() -> None:
        raise original

    with pytest.raises(KeyError) as info:
        main()
    assert info.value is original
    assert server.requests[0].body["error"]["type"] == "KeyError"


def test_the_original_exception_is_reraised_even_when_the_reject_cannot_be_delivered(
    server: Any, handle: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.fallback = {"status": 401, "body": {"error": {"code": "unauthorized", "message": "bad token"}}}
    with caplog.at_level(logging.ERROR, logger="notebook_lib"):
        with pytest.raises(ExtractError, match="boom"):
            with step(handle=handle):
                raise ExtractError("boom")
    assert "could not report the failure (ExtractError) to the resolver: CallbackRejected" in caplog.text


def test_a_value_that_is_not_json_rejects_the_promise_and_raises_type_error(server: Any, handle: str) -> None:
    with pytest.raises(TypeError, match=r"value\['df'\]: object of type Frame"):
        with step(handle=handle) as s:
            s.value = {"df": type("Frame", (), {})()}
    (req,) = server.requests
    assert req.path == "/v1/promises/p-1/reject"
    assert req.body["error"]["type"] == "TypeError"


def test_sys_exit_zero_inside_a_step_counts_as_success(server: Any, handle: str) -> None:
    with pytest.raises(SystemExit):
        with step(handle=handle) as s:
            s.value = "early"
            sys.exit(0)
    assert server.requests[0].path == "/v1/promises/p-1/resolve"
    assert server.requests[0].body == {"value": "early"}


def test_sys_exit_with_an_error_code_inside_a_step_counts_as_failure(server: Any, handle: str) -> None:
    with pytest.raises(SystemExit):
        with step(handle=handle):
            sys.exit(3)
    assert server.requests[0].path == "/v1/promises/p-1/reject"
    assert server.requests[0].body["error"]["type"] == "SystemExit"


def test_off_flow_a_step_runs_its_body_and_sends_nothing(server: Any) -> None:
    ran = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the once-per-process warning is tested elsewhere
        with step() as s:
            ran.append(True)
            s.value = 1
    assert ran == [True]
    assert s.result is None
    assert server.requests == []


def test_timeout_s_passes_through_to_the_delivery(server: Any, handle: str) -> None:
    server.fallback = 503
    from notebook_lib import DeliveryError

    with pytest.raises(DeliveryError, match=r"deadline 0\.3 s"):
        with step(handle=handle, timeout_s=0.3) as s:
            s.value = 1


def test_the_repr_of_a_step_shows_value_and_result_but_not_the_handle(handle: str) -> None:
    s = Step(handle=handle)
    s.value = {"rows": 1}
    assert repr(s) == "Step(value={'rows': 1}, result=None)"
