"""``/openapi.json`` speaks JSON Schema: bounds are ``minimum``/``maximum``/``exclusiveMinimum``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _keys(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key
            yield from _keys(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _keys(value, f"{path}/{i}")


def _number(schema: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in schema["anyOf"] if s.get("type") in ("integer", "number"))


def test_no_pydantic_only_keyword_reaches_the_document(make_client: Any) -> None:
    doc = make_client().get("/openapi.json").json
    schemas = doc["components"]["schemas"]
    found = [f"{p}/{k}" for p, k in _keys(doc) if k in ("ge", "le", "gt", "lt") and "/schema" in p.lower()]
    assert found == []
    timeout = _number(schemas["CreatePromiseBody"]["properties"]["timeout_s"])
    assert (timeout["minimum"], timeout["maximum"]) == (1, 604800)
    extend = _number(schemas["HeartbeatBody"]["properties"]["extend_s"])
    assert (extend["exclusiveMinimum"], extend["maximum"]) == (0, 604800)
    assert _number(schemas["JobSpec"]["properties"]["job_id"])["exclusiveMinimum"] == 0


def test_the_bounds_still_refuse_what_they_say(make_client: Any) -> None:
    client = make_client()
    for body in (
        {"id": "p-0", "timeout_s": 0},
        {"id": "p-big", "timeout_s": 604801},
        {"id": "p-j", "job": {"job_id": 0}},
    ):
        assert client.post("/v1/promises", body, operator=True).status in (400, 422), body
    assert client.post("/v1/promises", {"id": "p-ok", "timeout_s": 60}, operator=True).status == 201


def test_the_task_logs_route_is_described(make_client: Any) -> None:
    doc = make_client().get("/openapi.json").json
    get = doc["paths"]["/v1/runs/{run_id}/tasks/{task_key}/logs"]["get"]
    attempt = next(p for p in get["parameters"] if p["name"] == "attempt")
    assert _number(attempt["schema"])["minimum"] == 1
