"""Security under fuzzing, over real HTTP on loopback (support.live, a real SQLite store).

- Callback tokens: hypothesis mutates a promise's real token (bit flips, truncation, extension,
  another promise's token, another key id, keys rotated out or never known, other base64
  alphabets, wrong schemes, other headers). No mutation ever opens the promise, every one gets
  the very same 401, and the promise stays pending; a callback token never opens an operator
  route, whether the operator door is keyed or open (the local stack).
- Completion webhooks: the shipped verifier (``lambda_resolver.webhooks.verify``) passes a
  correct message and rejects, with ``WebhookVerificationError`` and nothing else, stale and
  future timestamps past the tolerance, tampered bodies, ids, timestamps and signatures, and
  hostile header values. It keeps no memory: a replay inside the tolerance verifies again, and
  the receiver deduplicates on ``webhook-id`` (docs/aws.md says so; tested here as documented).
- The local server refuses non-loopback binds unless ``allow_remote=True``; ``lakehook dev`` has
  no option to bind anything but 127.0.0.1.
- Secrets — signing keys, the operator key, the webhook Basic password, the Databricks token, the
  completion-webhook key, and the callback tokens and handles — appear in no log line (DEBUG,
  every logger), no answer and not in /openapi.json, over a whole flow run through the real
  databricks-sdk, the local workspace, Databricks job notifications and a signed completion
  webhook.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.http import Services, create_app
from lambda_resolver.http.local_server import is_loopback, serve
from lambda_resolver.webhooks import WebhookVerificationError, headers, verify

from support.live import LiveResolver, Reply, pair_flow, start_live

DENIED = {"error": {"code": "unauthorized", "message": "missing or invalid credentials"}}
TOKEN_EXAMPLES = 300
WEBHOOK_EXAMPLES = 300
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
    "derandomize": True,
    "database": None,
}
KEY_ACTIVE, KEY_OLD, KEY_GONE = (secrets.token_bytes(32) for _ in range(3))


# -- callback tokens -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveResolver]:
    """Keys: k2 signs, k1 (the previous key) still verifies, k0 was rotated out."""
    resolver = start_live(
        tmp_path_factory.mktemp("security") / "lakehook.db",
        keys={"k2": KEY_ACTIVE, "k1": KEY_OLD},
        active="k2",
    )
    resolver.h.publish(pair_flow())
    assert resolver.call("POST", "/v1/runs", {"flow": "pair", "run_id": "sec"}, operator=True).status == 201
    yield resolver
    resolver.close()


@pytest.fixture(scope="module")
def promises(live: LiveResolver) -> dict[str, tuple[str, str]]:
    """Task key → (promise id, its real token), for a and b (both running)."""
    return live.handles("sec")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@st.composite
def mutated_token(draw: st.DrawFn, pid: str, token: str, other: str) -> str:
    """A token for ``pid`` that is not its token: what an attacker or a bug could send."""
    kid, _, rest = token.partition(".")
    nonce, _, mac = rest.rpartition(".")  # <kid>.<nonce>.<mac>: the nonce binds it to this creation
    raw = _unb64(mac)
    kind = draw(
        st.sampled_from(
            [
                "bit_flip",
                "truncate",
                "extend",
                "char",
                "other_promise",
                "other_kid",
                "old_key_other_kid",
                "rotated_out",
                "unknown_kid",
                "same_kid_other_key",
                "std_alphabet",
                "padding",
                "case",
                "no_kid",
                "empty_parts",
                "mac_of_other_id",
                "id_only",
                "other_nonce",
                "random",
            ]
        )
    )
    if kind == "bit_flip":
        at = draw(st.integers(0, len(raw) * 8 - 1))
        flipped = bytearray(raw)
        flipped[at // 8] ^= 1 << (at % 8)
        out = f"{kid}.{nonce}.{_b64(bytes(flipped))}"
    elif kind == "truncate":
        out = token[: draw(st.integers(0, len(token) - 1))]
    elif kind == "extend":
        out = token + draw(
            st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8)
        )
    elif kind == "char":
        at = draw(st.integers(0, len(token) - 1))
        out = token[:at] + draw(st.characters(min_codepoint=33, max_codepoint=126)) + token[at + 1 :]
    elif kind == "other_promise":
        out = other
    elif kind == "other_kid":  # the active key's MAC under the old key's id
        out = f"k1.{nonce}.{mac}"
    elif kind == "old_key_other_kid":  # the old key's MAC under the active key's id
        out = f"k2.{TokenSigner({'k1': KEY_OLD}, 'k1').token(pid, nonce).partition('.')[2]}"
    elif kind == "rotated_out":
        out = TokenSigner({"k0": KEY_GONE}, "k0").token(pid, nonce)
    elif kind == "unknown_kid":
        out = f"{draw(st.sampled_from(['k3', 'K2', 'k2 ', '', 'k2.k2', 'local']))}.{nonce}.{mac}"
    elif kind == "same_kid_other_key":
        out = TokenSigner({"k2": KEY_GONE}, "k2").token(pid, nonce)
    elif kind == "std_alphabet":
        out = f"{kid}.{nonce}.{base64.b64encode(raw).decode()}"
    elif kind == "padding":
        out = token + draw(st.sampled_from(["=", "==", "%3D"]))
    elif kind == "case":
        out = token.swapcase()
    elif kind == "no_kid":
        out = draw(
            st.sampled_from([mac, f".{mac}", f"{kid}{mac}", f"{kid}:{mac}", f"{kid}..{mac}", f"{kid}.{mac}"])
        )
    elif kind == "empty_parts":
        out = draw(st.sampled_from([".", f"{kid}.", "..", "k2.=", "null", "undefined"]))
    elif kind == "mac_of_other_id":  # signed for a look-alike id
        lookalike = draw(
            st.sampled_from([pid + " ", pid.upper(), pid + ".1", pid[:-1] + "2", pid.replace(".", ":")])
        )
        out = TokenSigner({"k2": KEY_ACTIVE}, "k2").token(lookalike, nonce)
    elif kind == "id_only":  # the first format, for a promise created with a nonce
        out = TokenSigner({"k2": KEY_ACTIVE}, "k2").token(pid)
    elif kind == "other_nonce":  # a real token of this id, from another creation of it
        out = TokenSigner({"k2": KEY_ACTIVE}, "k2").token(pid, draw(st.sampled_from(["A" * 16, nonce[::-1]])))
    else:
        out = draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80))
    note(f"{kind}: {out!r}")
    return out


def _header_variants(token: str, real: str) -> list[dict[str, str]]:
    """Ways to present ``token`` (a wrong one), and ways to present the real one wrongly."""
    return [
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"bearer {token}"},
        {"Authorization": f"Bearer {token}", "X-Lakehook-Operator-Key": token},
        {"Authorization": f"Basic {real}"},
        {"Authorization": f"Token {real}"},
        {"Authorization": f"Bearer{real}"},
        {"Authorization": f"Bearer {real[:-1]}"},
        {"Authorization": real},
        {"X-Lakehook-Operator-Key": real},
        {"Authorization": f"Bearer {real}, Bearer {real}"},
        {"Authorization": "Basic " + base64.b64encode(f"lakehook:{real}".encode()).decode()},
        {"Cookie": f"token={real}"},
    ]


def _assert_denied(reply: Reply) -> None:
    assert reply.status == 401, (reply.status, reply.text[:300])
    assert reply.json == DENIED, reply.text[:300]  # the same body, whatever was wrong
    assert reply.headers.get("www-authenticate") == 'Bearer realm="lakehook"'


@settings(max_examples=TOKEN_EXAMPLES, **SETTINGS)
@given(data=st.data(), action=st.sampled_from(["resolve", "reject", "heartbeat"]))
def test_no_mutation_of_a_token_opens_its_promise_and_every_refusal_is_the_same_401(
    live: LiveResolver, promises: dict[str, tuple[str, str]], data: st.DataObject, action: str
) -> None:
    pid, real = promises["a"]
    token = data.draw(mutated_token(pid, real, promises["b"][1]))
    assume(token.strip() != real)
    body = {"resolve": {"value": 1}, "reject": {"error": {"message": "no"}}, "heartbeat": {}}[action]
    variant = data.draw(st.sampled_from(_header_variants(token, real)))
    safe = {k: v for k, v in variant.items() if v.isascii() and v.isprintable()}
    reply = live.call("POST", f"/v1/promises/{pid}/{action}", body, headers=safe)
    _assert_denied(reply)
    doc = live.call("GET", f"/v1/promises/{pid}", operator=True).json
    assert (doc["state"], doc["value"]) == ("PENDING", None)


def test_the_real_token_opens_its_promise_and_a_previous_keys_token_still_does(
    live: LiveResolver, promises: dict[str, tuple[str, str]]
) -> None:
    """The property above would pass against a resolver that refuses everything: not this one."""
    pid, token = promises["b"]
    assert token.startswith("k2.")
    nonce = token.split(".")[1]
    old = TokenSigner({"k1": KEY_OLD}, "k1").token(pid, nonce)  # signed before the rotation: still valid
    beat = live.call("POST", f"/v1/promises/{pid}/heartbeat", {}, headers={"Authorization": f"bearer {old}"})
    assert beat.status == 200, beat.text[:300]
    done = live.call("POST", f"/v1/promises/{pid}/resolve", {"value": {"rows": 2}}, token=token)
    assert done.status == 200 and done.json["state"] == "RESOLVED"


OPERATOR_ROUTES = [
    ("POST", "/v1/runs", {"flow": "pair"}),
    ("GET", "/v1/runs", None),
    ("GET", "/v1/runs/sec", None),
    ("POST", "/v1/runs/sec/cancel", None),
    ("POST", "/v1/promises", {"id": "sec-standalone"}),
    ("GET", "/v1/promises/{pid}", None),
    ("POST", "/v1/flows", {"name": "x", "tasks": []}),
    ("GET", "/v1/flows", None),
    ("GET", "/v1/flows/pair", None),
]


@pytest.mark.parametrize("open_door", [False, True], ids=["keyed", "open (local stack)"])
@pytest.mark.parametrize("how", ["bearer", "operator header"])
@pytest.mark.parametrize(
    ("method", "path", "body"), OPERATOR_ROUTES, ids=[f"{m} {p}" for m, p, _ in OPERATOR_ROUTES]
)
def test_a_callback_token_never_opens_an_operator_route(  # noqa: PLR0917 - pytest parameters
    live: LiveResolver,
    promises: dict[str, tuple[str, str]],
    open_door: bool,
    how: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    pid, token = promises["a"]
    presented = (
        {"Authorization": f"Bearer {token}"} if how == "bearer" else {"X-Lakehook-Operator-Key": token}
    )
    target = path.format(pid=pid)
    if not open_door:
        _assert_denied(live.call(method, target, body, headers=presented))
        return
    # the local stack's door: open to callers with no credentials, closed to wrong ones
    signer = TokenSigner({"k2": KEY_ACTIVE}, "k2")
    app = create_app(Services(engine=lambda: live.h.engine, signer=signer, operator_open=True))
    server = serve(app, "127.0.0.1", 0)
    try:
        other = LiveResolver(server, live.h, "unused-operator-key", "u", "p", {})
        _assert_denied(other.call(method, target, body, headers=presented))
        assert other.call("GET", "/v1/flows").status == 200  # no credentials at all: the open door
    finally:
        server.close()


# -- completion webhooks ---------------------------------------------------------------------------
NOTIFY = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
BODY = json.dumps({"type": "lakehook.run.finished", "data": {"run_id": "r1", "state": "SUCCESS"}}).encode()
NOW = 1_790_000_000


def _signed(msg_id: str = "msg_run_r1", ts: int = NOW, body: bytes = BODY) -> dict[str, str]:
    return headers(NOTIFY, msg_id, body, timestamp=ts)


@pytest.mark.parametrize("skew", [-300, -1, 0, 1, 300])
def test_a_correct_webhook_verifies_within_the_tolerance(skew: int) -> None:
    assert verify(NOTIFY, _signed(ts=NOW + skew), BODY, now=NOW) == json.loads(BODY)
    upper = {k.upper(): v for k, v in _signed(ts=NOW + skew).items()}
    assert verify(NOTIFY, upper, BODY.decode(), now=NOW) == json.loads(BODY)


@pytest.mark.parametrize("skew", [-301, 301, -86_400, 10**6, -NOW])
def test_a_stale_or_future_webhook_is_rejected(skew: int) -> None:
    with pytest.raises(WebhookVerificationError, match="from now"):
        verify(NOTIFY, _signed(ts=NOW + skew), BODY, now=NOW)


def test_a_replay_inside_the_tolerance_verifies_again_so_receivers_deduplicate_on_the_id() -> None:
    """verify() keeps no memory (documented): both deliveries verify, with the same webhook-id."""
    first, again = _signed(ts=NOW), _signed(ts=NOW)
    assert verify(NOTIFY, first, BODY, now=NOW) == verify(NOTIFY, again, BODY, now=NOW + 299)
    assert first["webhook-id"] == again["webhook-id"] == "msg_run_r1"
    docs = (Path(__file__).resolve().parents[2] / "docs" / "aws.md").read_text(encoding="utf-8")
    assert "deduplicate on it" in docs and 'already_seen(request.headers["webhook-id"])' in docs


def _flip(text: str, at: int, char: str) -> str:
    at %= max(len(text), 1)
    return text[:at] + char + text[at + 1 :]


@st.composite
def tampered(draw: st.DrawFn) -> tuple[dict[str, str], bytes, str]:
    """A message that is not what the resolver signed: headers, body, what changed."""
    h, body = _signed(), BODY
    kind = draw(
        st.sampled_from(["body", "signature", "id", "timestamp", "secret", "version", "drop", "hostile"])
    )
    if kind == "body":
        b = bytearray(body)
        at = draw(st.integers(0, len(b) - 1))
        b[at] ^= draw(st.integers(1, 255))
        body = bytes(b) if draw(st.booleans()) else body + draw(st.binary(min_size=1, max_size=8))
    elif kind == "signature":
        sig = h["webhook-signature"]
        at = draw(st.integers(3, len(sig) - 1))
        new = draw(st.characters(codec="ascii", exclude_characters=" "))
        assume(new != sig[at])
        h["webhook-signature"] = _flip(sig, at, new)
    elif kind == "id":
        h["webhook-id"] = draw(st.text(min_size=1, max_size=40).filter(lambda s: s != "msg_run_r1"))
    elif kind == "timestamp":  # inside the tolerance, but not the signed one
        h["webhook-timestamp"] = str(NOW + draw(st.integers(-300, 300).filter(bool)))
    elif kind == "secret":
        other = draw(st.binary(min_size=16, max_size=40))
        h = headers(other, "msg_run_r1", body, timestamp=NOW)
    elif kind == "version":
        h["webhook-signature"] = (
            draw(st.sampled_from(["v2", "V1", "v1 ", "", "v0"])) + h["webhook-signature"][2:]
        )
    elif kind == "drop":
        del h[draw(st.sampled_from(sorted(k for k in h if k.startswith("webhook-"))))]
    else:  # hostile header values: non-ASCII, huge, control characters
        name = draw(st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]))
        h[name] = draw(
            st.sampled_from(
                [
                    "v1,é∂ƒ",
                    "v1,\x00",
                    "9" * 5000,
                    "1" * 400,
                    "١٧٩٠٠٠٠٠٠٠",
                    " 1790000000",
                    "-1",
                    "1e9",
                    "v1," + "A" * 100_000,
                ]
            )
            | st.text(max_size=50)
        )
    return h, body, kind


@settings(max_examples=WEBHOOK_EXAMPLES, **SETTINGS)
@given(message=tampered())
def test_a_tampered_webhook_is_rejected_with_the_verification_error_only(
    message: tuple[dict[str, str], bytes, str],
) -> None:
    h, body, kind = message
    note(f"{kind}: {h!r} {body[:80]!r}")
    with pytest.raises(WebhookVerificationError):
        verify(NOTIFY, h, body, now=NOW)


def test_a_signed_body_that_is_not_json_is_a_verification_error() -> None:
    with pytest.raises(WebhookVerificationError, match="not JSON"):
        verify(NOTIFY, _signed(body=b"\xff not json"), b"\xff not json", now=NOW)


# -- binding ---------------------------------------------------------------------------------------
def _app() -> Any:
    return create_app(Services(engine=lambda: None, signer=TokenSigner({"k": b"k" * 32}, "k")))  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "0", "::ffff:0.0.0.0", "192.0.2.1"])  # noqa: S104
def test_the_local_server_refuses_a_non_loopback_bind_unless_told(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ValueError, match="refusing to listen") as refused:
        serve(_app(), host, 0)
    assert "allow_remote" in str(refused.value)


def test_the_local_server_binds_loopback_and_anything_only_with_allow_remote() -> None:
    for host in ("127.0.0.1", "localhost", "127.1"):
        server = serve(_app(), host, 0)
        try:
            assert str(server.server_address[0]).startswith("127.")
        finally:
            server.close()
    everywhere = serve(_app(), "0.0.0.0", 0, allow_remote=True, start=False)  # noqa: S104 - told explicitly
    try:
        assert everywhere.server_address[0] == "0.0.0.0"  # noqa: S104
    finally:
        everywhere.close()


def test_lakehook_dev_has_no_option_to_bind_anything_but_loopback() -> None:
    from typer.testing import CliRunner

    from lambda_resolver.cli import local_cmds  # registers `dev`
    from lambda_resolver.cli.app import app

    assert local_cmds.dev is not None

    helped = CliRunner().invoke(app, ["dev", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert helped.exit_code == 0, helped.output
    assert "--port" in helped.output and "127.0.0.1" in helped.output
    for option in ("--host", "--bind", "--listen", "--address", "--allow-remote"):
        assert option not in helped.output
    stack_source = (
        Path(__file__).resolve().parents[2] / "lambda_resolver" / "local" / "stack.py"
    ).read_text()
    assert 'serve(create_app(services), "127.0.0.1", self.port, start=False)' in stack_source


# -- secrets ---------------------------------------------------------------------------------------
class Receiver:
    """A completion-webhook receiver on loopback that verifies what it gets with the shipped verifier."""

    def __init__(self, secret: str) -> None:
        self.got: list[dict[str, Any]] = []
        self.rejected = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    outer.got.append(verify(secret, dict(self.headers), body))
                    self.send_response(200)
                except WebhookVerificationError:
                    outer.rejected += 1
                    self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lakehook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait(what: str, ready: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_no_secret_reaches_a_log_line_an_answer_or_the_openapi_document(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lambda_resolver.core.context import Context, Settings
    from lambda_resolver.core.engine import Engine, promise_document
    from lambda_resolver.core.notifications import DeliveryWorker
    from lambda_resolver.databricks.launcher import SdkLauncher
    from lambda_resolver.http.documents import run_document
    from lambda_resolver.local import CallbackExecutor, LocalRun, LocalWorkspace
    from lambda_resolver.stores.sqlite import SqliteStore
    from lambda_resolver.webhooks import HttpNotifier
    from notebook_lib import notify_done
    from notebook_lib.handle import decode_handle

    caplog.set_level(logging.DEBUG)  # the root logger: lakehook, databricks-sdk, urllib3, everything
    for name in ("lakehook", "databricks", "databricks.sdk", "urllib3", "notebook_lib"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    signing_key = secrets.token_bytes(32)
    databricks_token = "dapi" + secrets.token_hex(16)
    operator_key = "opkey-" + secrets.token_urlsafe(24)
    hook_user, hook_password = "databricks-hooks", "hookpw-" + secrets.token_urlsafe(18)
    notify_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    secrets_by_name = {
        "signing key (base64)": base64.b64encode(signing_key).decode(),
        "signing key (urlsafe)": _b64(signing_key),
        "signing key (hex)": signing_key.hex(),
        "signing key (repr)": repr(signing_key)[2:-1],
        "operator key": operator_key,
        "webhook password": hook_password,
        "webhook Basic header": base64.b64encode(f"{hook_user}:{hook_password}".encode()).decode(),
        "Databricks token": databricks_token,
        "notify secret": notify_secret,
        "notify key (base64)": notify_secret.removeprefix("whsec_"),
    }

    def notebook(run: LocalRun) -> Any:
        value = {"rows": 3, "task": run.job_name}
        notify_done(value, handle=run.job_parameters["lakehook"], timeout_s=10)
        return value

    executor = CallbackExecutor(notebook)
    receiver = Receiver(notify_secret)
    store = SqliteStore(tmp_path / "lakehook.db")
    replies: list[Reply] = []
    with LocalWorkspace(executor=executor, token=databricks_token) as ws:
        notifications = {"on_success": [{"id": "lakehook"}], "on_failure": [{"id": "lakehook"}]}
        for key in ("a", "b", "c"):
            params = [{"name": "lakehook", "default": ""}, {"name": "day"}, {"name": "rows"}]
            ws.register_job(
                None,
                f"job_{key}",
                {"parameters": params, "webhook_notifications": notifications},
                f"job_{key}",
            )
        signer = TokenSigner({"kS": signing_key}, "kS")
        box: dict[str, Engine] = {}
        services = Services(
            engine=lambda: box["engine"],
            signer=signer,
            operator_key=operator_key,
            webhook_credentials=(hook_user, hook_password),
        )
        server = serve(create_app(services), "127.0.0.1", 0)
        worker: DeliveryWorker | None = None
        try:
            launcher = SdkLauncher(config={"host": ws.url, "token": databricks_token}, retry_timeout_s=10)
            ctx = Context(store, launcher, signer, Settings(callback_url=server.url, success_grace_ms=0))
            engine = box["engine"] = Engine(ctx)

            def document(kind: str, record_id: str) -> dict[str, Any]:
                if kind == "run":
                    return run_document(engine, record_id)
                return promise_document(engine.get_promise(record_id))

            ctx.notifier = HttpNotifier(notify_secret, document)
            ctx.dispatch = worker = DeliveryWorker(ctx)
            ws.configure_webhooks(
                f"{server.url}/v1/webhooks/databricks", username=hook_user, password=hook_password
            )
            live = LiveResolver(server, None, operator_key, hook_user, hook_password, {"kS": signing_key})  # type: ignore[arg-type]
            manifest = pair_flow().with_job_ids(ws.job_ids())
            assert live.call("POST", "/v1/flows", manifest.to_dict(), operator=True).status == 201
            started = live.call(
                "POST",
                "/v1/runs",
                {"flow": "pair", "run_id": "secrets", "notify_url": receiver.url},
                operator=True,
            )
            assert started.status == 201, started.text

            _wait(
                "the run to finish",
                lambda: live.call("GET", "/v1/runs/secrets", operator=True).json["state"] != "RUNNING",
            )
            final = live.call("GET", "/v1/runs/secrets", operator=True).json
            assert final["state"] == "SUCCESS", final
            _wait("the completion webhook", lambda: bool(receiver.got))
            assert receiver.got[0]["data"]["run_id"] == "secrets" and receiver.rejected == 0
            ws.webhooks.flush()  # the job notifications reached the resolver's webhook route

            handles = [r.job_parameters["lakehook"] for r in ws.runs()]
            assert len(handles) == 3
            for text in handles:
                secrets_by_name[f"handle of {decode_handle(text).promise_id}"] = text
                secrets_by_name[f"token of {decode_handle(text).promise_id}"] = decode_handle(text).token
            # refusals and errors, each of which has a secret nearby
            a_pid, a_token = decode_handle(handles[0]).promise_id, decode_handle(handles[0]).token
            live.call("POST", f"/v1/promises/{a_pid}/resolve", {"value": 9}, token=a_token)  # 409
            live.call("POST", f"/v1/promises/{a_pid}/resolve", {"value": 9}, token=a_token + "x")  # 401
            live.call("GET", "/v1/runs", headers={"X-Lakehook-Operator-Key": operator_key + "x"})  # 401
            live.call(
                "POST",
                "/v1/webhooks/databricks",
                {"run": {"run_id": 1}},
                headers={
                    "Authorization": "Basic "
                    + base64.b64encode(f"{hook_user}:{hook_password}x".encode()).decode()
                },
            )
            live.call("POST", f"/v1/promises/{a_pid}/resolve", "{not json", token=a_token)  # 400
            live.call("POST", "/v1/runs", {"flow": "pair", "params": {"nope": "1"}}, operator=True)  # 400
            live.call("GET", "/v1/nothing", operator=True)  # 404
            live.call("POST", "/v1/runs/secrets", {}, operator=True)  # 405
            openapi = live.call("GET", "/openapi.json")
            assert openapi.status == 200
            replies = live.replies
        finally:
            if worker is not None:
                worker.close()
            server.close()
            executor.join()
            receiver.close()
            store.close()

    assert len(caplog.records) > 20, "the flow logged nothing: the scan would prove nothing"
    logged = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''} {r.stack_info or ''} {r.__dict__!r}"
        for r in caplog.records
    )
    heard = {r.name.split(".")[0] for r in caplog.records}
    assert {"lakehook", "databricks", "urllib3"} <= heard, heard  # all were heard
    # powertools' event handler logs route arguments (bodies) at DEBUG: it is held at INFO
    assert not [r for r in caplog.records if r.name.startswith("aws_lambda_powertools.event_handler")]
    answers = "\n".join(r.text + json.dumps(r.headers) for r in replies)
    leaks = {
        name: where
        for name, secret in secrets_by_name.items()
        for where, text in (("logs", logged), ("answers", answers), ("openapi", openapi.text))
        if secret in text
    }
    assert not leaks, f"secrets found: {leaks}"
    counts = f"{len(secrets_by_name)} secrets, {len(caplog.records)} log records, {len(replies)} answers"
    print(f"\nsecrets scan: {counts}")
