"""Every route of /openapi.json, fuzzed by schemathesis over real HTTP on loopback.

The resolver is served by ``local_server.serve`` over a real SQLite store (support.live). For
every operation the document lists, schemathesis generates requests that fit the schema and
requests that do not (wrong types, missing and unknown fields, strange strings in paths,
queries and headers); each is sent three ways — with the operator key, with no credentials,
and with a callback token that belongs to some other promise — and every answer must be:

- never a 5xx;
- a status the document lists for that operation, with the content type it lists;
- a body that matches the documented schema of that status; an error is exactly
  ``{"error": {"code", "message", ...}}`` (support.live.is_error_shape).

Path ids are sometimes replaced by ids that exist (a run of the ``pair`` flow, a standalone
promise), so the fuzzing reaches past "not found" into settles, conflicts and cancels.

The default run keeps ``EXAMPLES`` per operation (about a minute); ``-m slow`` runs
``SLOW_EXAMPLES``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.http import Services, create_app, openapi_document

from support.live import LiveResolver, is_error_shape, pair_flow, start_live

EXAMPLES = 60  # per operation and generation mode
SLOW_EXAMPLES = 400
# Negative cases of /resolve are query values over its 300,000-character limit, ~10 s each to
# generate and send: only the slow run fuzzes them (at a tenth of SLOW_EXAMPLES);
# test_bad_input sends one such request every run.
COSTLY = {"POST /resolve-negative": SLOW_EXAMPLES // 10}
RUN_ID = "fz-run"
REAL_PROMISES = (f"{RUN_ID}.a.1", f"{RUN_ID}.b.1", f"{RUN_ID}.c.1", "fz-standalone", "fz-missing")
REAL_RUNS = (RUN_ID, "fz-missing-run")


def _document() -> dict[str, Any]:
    """The document the server answers at /openapi.json (built from code; a test checks they agree)."""
    services = Services(engine=_no_engine, signer=TokenSigner({"k": b"k" * 32}, "k"), resonate_compat=True)
    return json.loads(openapi_document(create_app(services)))  # type: ignore[no-any-return]


def _no_engine() -> Any:
    raise AssertionError("the document is built without an engine")


# The schema is loaded at collection, from code, so each operation is its own test; requests go
# to the live server's URL. (schemathesis' own pytest plugin does not run under pytest 9.2.)
SCHEMA = schemathesis.openapi.from_dict(_document())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# (operation, mode): an operation with no input at all (GET /healthz) has no negative case.
CASES = [
    pytest.param(op, mode, id=f"{op.label}-{mode.value}")
    for op in OPERATIONS
    for mode in MODES
    if mode is GenerationMode.POSITIVE or any((op.path_parameters, op.query, op.headers, op.body))
]
# Limits of the HTTP server itself, before any route: answered in the error shape (checked), but
# not part of the API document — Lambda's Function URL front end has limits of its own.
TRANSPORT_LIMITS = {414: "request line over 65,536 bytes", 431: "headers over the server's limits"}


class Tally:
    """What the fuzzing did: requests per status, for docs/reliability.md."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: dict[int, int] = {}
        self.cases = 0

    def add(self, status: int) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveResolver]:
    """The resolver on loopback with a running flow and a standalone promise to aim at."""
    resolver = start_live(tmp_path_factory.mktemp("fuzz") / "lakehook.db", resonate_compat=True)
    resolver.h.publish(pair_flow())
    assert resolver.call("POST", "/v1/runs", {"flow": "pair", "run_id": RUN_ID}, operator=True).status == 201
    created = resolver.call("POST", "/v1/promises", {"id": "fz-standalone"}, operator=True)
    assert created.status == 201, created.text
    yield resolver
    resolver.close()


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    t = Tally()
    yield t
    print(
        f"\napi fuzz: {t.cases} generated cases, {t.requests} requests, statuses {sorted(t.statuses.items())}"
    )


def documented_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx body is ``{"error": {"code", "message", ...}}`` and never a stack trace."""
    if response.status_code < 400:
        return None
    try:
        doc = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} answer is not JSON: {response.text[:200]!r}") from None
    assert is_error_shape(doc), f"{response.status_code} answer is not in the error shape: {doc!r:.300}"
    assert "Traceback" not in response.text, "an error answer carries a traceback"
    return None


def documented_status(ctx: Any, response: Any, case: Any) -> bool | None:
    """The status is one the document lists for the operation (or a transport limit)."""
    if response.status_code in TRANSPORT_LIMITS:
        return None
    return checks.status_code_conformance(ctx, response, case)  # type: ignore[no-any-return]


CHECKS = [
    checks.not_a_server_error,
    documented_status,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def exercise(case: Any, live: LiveResolver, tally: Tally, *, promise: str, run: str, aim: bool) -> None:
    """Send ``case`` with each kind of credentials and validate every answer."""
    if aim:  # sometimes hit records that exist, so settles and cancels really happen
        if "promise_id" in (case.path_parameters or {}):
            case.path_parameters["promise_id"] = promise
        if "run_id" in (case.path_parameters or {}):
            case.path_parameters["run_id"] = run
        if "name" in (case.path_parameters or {}):
            case.path_parameters["name"] = "pair"
    foreign = live.handles(RUN_ID)["b"][1]  # b's token: never opens anything but b's promise
    tally.cases += 1
    for headers in (live.operator(), {}, {"Authorization": f"Bearer {foreign}"}):
        response = case.call(base_url=live.url, headers=headers, timeout=30)
        tally.add(response.status_code)
        case.validate_response(response, checks=CHECKS, additional_checks=[documented_error_shape])


def fuzz(op: Any, mode: GenerationMode, live: LiveResolver, tally: Tally, examples: int) -> None:
    examples = min(examples, COSTLY.get(f"{op.label}-{mode.value}", examples))

    @given(
        case=op.as_strategy(generation_mode=mode),
        promise=st.sampled_from(REAL_PROMISES),
        run=st.sampled_from(REAL_RUNS),
        aim=st.booleans(),
    )
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def one(case: Any, promise: str, run: str, aim: bool) -> None:
        exercise(case, live, tally, promise=promise, run=run, aim=aim)

    one()


@pytest.mark.parametrize(("op", "mode"), [c for c in CASES if c.id not in COSTLY])
def test_every_route_answers_in_its_documented_shape_and_never_5xx(
    op: Any, mode: GenerationMode, live: LiveResolver, tally: Tally
) -> None:
    fuzz(op, mode, live, tally, EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize(("op", "mode"), CASES)
def test_every_route_under_a_heavier_fuzz(
    op: Any, mode: GenerationMode, live: LiveResolver, tally: Tally
) -> None:
    fuzz(op, mode, live, tally, SLOW_EXAMPLES)


def test_the_fuzzing_reached_every_route_and_left_the_store_sound(live: LiveResolver, tally: Tally) -> None:
    """Runs after the fuzz (file order): it covered the document and the data still reads."""
    assert tally.cases > 0 and tally.server_errors == 0
    assert {200, 400, 401, 404, 422} <= set(tally.statuses), tally.statuses
    doc = live.call("GET", "/v1/runs/" + RUN_ID, operator=True)
    assert doc.status == 200 and doc.json["run_id"] == RUN_ID
    listed = live.call("GET", "/v1/runs?limit=1000", operator=True)
    assert listed.status == 200
    for summary in listed.json["runs"]:  # every run someone started reads back whole
        again = live.call("GET", f"/v1/runs/{summary['run_id']}", operator=True)
        assert again.status == 200 and again.json["tasks"], summary


def test_the_document_lists_every_route_and_is_the_one_fuzzed(live: LiveResolver) -> None:
    doc = live.call("GET", "/openapi.json").json
    assert doc == _document()
    routes = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert {
        ("POST", "/v1/promises/{promise_id}/resolve"),
        ("POST", "/v1/promises/{promise_id}/reject"),
        ("POST", "/v1/promises/{promise_id}/heartbeat"),
        ("POST", "/v1/webhooks/databricks"),
        ("POST", "/resolve"),
        ("POST", "/v1/runs"),
        ("GET", "/v1/runs"),
        ("GET", "/v1/runs/{run_id}"),
        ("POST", "/v1/runs/{run_id}/cancel"),
        ("POST", "/v1/promises"),
        ("GET", "/v1/promises/{promise_id}"),
        ("POST", "/v1/flows"),
        ("GET", "/v1/flows"),
        ("GET", "/v1/flows/{name}"),
        ("GET", "/healthz"),
    } <= routes
