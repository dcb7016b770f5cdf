"""The HTTP API driven by real Lambda event JSON (tests/events), over the Harness engine.

``Client`` turns a request into a Function URL (or API Gateway HTTP API) payload-2.0 event —
a template from tests/events with method, path, query, headers and body filled in, the body
base64-encoded as Lambda does for non-text content types — and reads the answer back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.http import Services, create_app, handle
from lambda_resolver.stores.sqlite import SqliteStore

from support.aws import LockedClient, moto_table
from support.events import http_event
from support.flows import flow, job_task
from support.harness import Harness

OPERATOR_KEY = "op-key-0123456789abcdef-not-a-token"
WEBHOOK_USER, WEBHOOK_PASSWORD = "databricks", "webhook-password-42"
MISSING: Any = object()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Client:
    """Requests in, replies out, through ``handle`` and the resolver, as the Lambda does it."""

    app: Any
    kind: str = "function_url"
    events: list[dict[str, Any]] = field(default_factory=list)

    def request(
        self,
        method: str,
        target: str,
        *,
        json_body: Any = MISSING,
        data: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        operator: bool = False,
    ) -> Reply:
        all_headers = {"content-type": "application/json"} if json_body is not MISSING else {}
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        if operator:
            all_headers["x-lakehook-operator-key"] = OPERATOR_KEY
        all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        body = json.dumps(json_body) if json_body is not MISSING else data
        event = http_event(self.kind, method, target, body=body, headers=all_headers)
        self.events.append(event)
        answer = handle(event, None, self.app)
        text = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        return Reply(answer["statusCode"], {k.lower(): v for k, v in answer.get("headers", {}).items()}, text)

    def get(self, target: str, **kw: Any) -> Reply:
        return self.request("GET", target, **kw)

    def post(self, target: str, body: Any = MISSING, **kw: Any) -> Reply:
        return self.request("POST", target, json_body=body, **kw)


def nightly() -> FlowManifest:
    """DESIGN §2's sample flow: two extracts, a combine that reads a value, a report."""
    return flow(
        "nightly",
        [
            job_task("extract_a", params={"run_date": "{{job.parameters.run_date}}"}),
            job_task("extract_b"),
            job_task(
                "combine",
                ["extract_a", "extract_b"],
                params={"rows_a": "{{tasks.extract_a.values.rows}}", "run": "{{job.run_id}}"},
            ),
            job_task("report", ["combine"], max_retries=2, timeout_seconds=3600),
        ],
        params={"run_date": ""},
    )


def services_for(h: Harness, **kw: Any) -> Services:
    settings: dict[str, Any] = {
        "engine": lambda: h.engine,
        "signer": h.signer,
        "operator_key": OPERATOR_KEY,
        "webhook_credentials": (WEBHOOK_USER, WEBHOOK_PASSWORD),
    }
    settings.update(kw)
    return Services(**settings)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The engine on a real SQLite file, a fake launcher and a fake clock."""
    store = SqliteStore(tmp_path / "lakehook.db")
    yield Harness(store)
    store.close()


@pytest.fixture
def make_client(h: Harness) -> Callable[..., Client]:
    """``make_client(kind=..., harness=..., **services settings)``: a client of a fresh app."""

    def make(kind: str = "function_url", harness: Harness | None = None, **kw: Any) -> Client:
        return Client(create_app(services_for(harness or h, **kw), kind=kind), kind)  # type: ignore[arg-type]

    return make


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()


@pytest.fixture
def nightly_flow() -> FlowManifest:
    return nightly()


@pytest.fixture
def webhook_auth() -> dict[str, str]:
    """The Authorization header of the configured Databricks notification destination."""
    creds = base64.b64encode(f"{WEBHOOK_USER}:{WEBHOOK_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {creds}"}


@pytest.fixture
def operator_key() -> str:
    return OPERATOR_KEY


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """``make_event(kind, method, target, body=, headers=)``: a filled-in payload-2.0 event."""
    return http_event


@pytest.fixture
def dynamodb_harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """The engine on DynamoDB (moto, in process), one call at a time (moto is not atomic)."""
    from lambda_resolver.stores.dynamodb import DynamoStore

    with moto_table(monkeypatch, "lakehook-http-test") as client:
        yield Harness(DynamoStore("lakehook-http-test", client=LockedClient(client)))
