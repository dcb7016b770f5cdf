"""``notify_url`` is no SSRF vector (issue 12, finding 5): only the operator's receivers, each
signed with its own secret; no private, loopback or link-local address after resolution, and the
connection goes to the address that was checked; ``user:password@`` never sent nor shown."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.engine import promise_document
from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.core.models import PromiseState, Run, RunState
from lambda_resolver.http import Services, create_app, run_document
from lambda_resolver.http.documents import run_summary
from lambda_resolver.http.local_server import LocalServer, serve
from lambda_resolver.stores.sqlite import SqliteStore
from lambda_resolver.webhooks import HttpNotifier, WebhookVerificationError, verify

from support.harness import Harness
from support.receivers import LoopbackReceiver

SECRET_A = "whsec_" + base64.b64encode(b"a" * 32).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 32).decode()


@pytest.fixture
def receiver() -> Iterator[LoopbackReceiver]:
    with LoopbackReceiver() as r:
        yield r


# -- which URLs are receivers ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("https://hooks.example.com/lakehook/orders", "https://hooks.example.com/lakehook/"),
        ("https://hooks.example.com:443/lakehook/x?y=1", "https://hooks.example.com/lakehook/"),
        ("https://ops.example.com/exact", "https://ops.example.com/exact"),
        ("https://ops.example.com/exact/more", None),  # exact means exact
        ("https://ops.example.com/exact?x=1", None),
        ("https://hooks.example.com.evil.test/lakehook/x", None),  # not a prefix of the host
        ("http://hooks.example.com/lakehook/x", None),  # scheme
        ("https://hooks.example.com:8443/lakehook/x", None),  # port
        ("https://hooks.example.com/lakehookx", None),
        ("https://hooks.example.com/lakehook/../admin", None),  # no escaping the prefix
        ("https://hooks.example.com/lakehook/%2e%2e/admin", None),
        ("https://user:pw@hooks.example.com/lakehook/x", None),
        ("ftp://hooks.example.com/lakehook/x", None),
    ],
)
def test_a_notify_url_goes_to_the_receiver_it_matches(url: str, found: str | None) -> None:
    from lambda_resolver.delivery import Receivers

    receivers = Receivers.parse(
        json.dumps(
            {
                "receivers": [
                    {"url": "https://hooks.example.com/lakehook/", "secret": SECRET_A},
                    {"url": "https://ops.example.com/exact", "secret": SECRET_B},
                ]
            }
        )
    )
    match = receivers.find(url)
    assert (None if isinstance(match, str) else match.url) == found
    if found is None:
        assert isinstance(match, str) and match  # says why, and what to configure


def test_each_receiver_has_its_own_secret() -> None:
    from lambda_resolver.delivery import Receivers
    from lambda_resolver.webhooks import secret_bytes

    receivers = Receivers.parse(
        json.dumps(
            [
                {"url": "https://a.example.com/", "secret": SECRET_A},
                {"url": "https://b.example.com/", "secret": SECRET_B},
            ]
        )
    )
    a, b = receivers.find("https://a.example.com/h"), receivers.find("https://b.example.com/h")
    assert not isinstance(a, str) and not isinstance(b, str)
    assert (a.secret, b.secret) == (secret_bytes(SECRET_A), secret_bytes(SECRET_B))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"receivers": [{"url": "https://a.example.com/"}]}',
        '{"receivers": [{"url": "https://a.example.com/", "secret": "whsec_!!"}]}',
        '{"receivers": [{"url": "https://u:p@a.example.com/", "secret": "whsec_YWFh"}]}',
        '{"receivers": [{"url": "file:///etc/passwd", "secret": "whsec_YWFh"}]}',
    ],
)
def test_a_bad_receivers_secret_says_its_shape(text: str) -> None:
    from lambda_resolver.delivery import Receivers

    with pytest.raises(ValueError, match="receiver"):
        Receivers.parse(text)


# -- which addresses, after resolution --------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",  # the instance metadata service
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:10.0.0.1",
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_refused(address: str) -> None:
    from lambda_resolver.delivery import address_refusal

    assert address_refusal(address)
    assert address_refusal("169.254.169.254", allow_private=True)  # never, even in a VPC


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    from lambda_resolver.delivery import address_refusal

    assert address_refusal(address) is None


def test_a_name_that_resolves_to_a_private_address_is_refused_before_connecting(
    receiver: LoopbackReceiver,
) -> None:
    from lambda_resolver.delivery import DeliveryError, post

    with pytest.raises(DeliveryError, match="private or loopback"):
        post(f"http://localhost:{receiver.port}/hook", b"{}", {})  # localhost is 127.0.0.1
    with pytest.raises(DeliveryError, match="private or loopback"):  # one bad answer is enough
        post(
            "https://hooks.example.com/h", b"{}", {}, resolve=lambda host, port: ["93.184.216.34", "10.0.0.7"]
        )
    assert receiver.connections == 0


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(receiver: LoopbackReceiver) -> None:
    from lambda_resolver.delivery import post

    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    # `receiver.test` is in no DNS: the request can only have gone to the address checked.
    status = post(
        f"http://receiver.test:{receiver.port}/hooks/x", b"{}", {}, resolve=resolve, allow_private=True
    )
    assert status == 200 and looked_up == ["receiver.test"]
    (got,) = receiver.received
    assert (got.path, got.headers["host"]) == ("/hooks/x", f"receiver.test:{receiver.port}")


# -- run start refuses what it could not deliver ---------------------------------------------------
@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Harness, LocalServer]]:
    """The HTTP API as `lakehook dev` wires it: loopback receivers, signed with one secret."""
    box: dict[str, Harness] = {}
    signer = TokenSigner({"k1": b"0123456789abcdef0123456789abcdef"}, "k1")
    server = serve(
        create_app(Services(engine=lambda: box["h"].engine, signer=signer, operator_open=True)),
        "127.0.0.1",
        0,
        start=False,
    )
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    serving.start()
    store = SqliteStore(tmp_path / "lakehook.db")
    h = box["h"] = Harness(store)

    def document(kind: str, record_id: str) -> dict[str, Any]:
        return (
            run_document(h.engine, record_id)
            if kind == "run"
            else promise_document(h.engine.get_promise(record_id))
        )

    h.ctx.notifier = HttpNotifier(SECRET_A, document)
    try:
        yield h, server
    finally:
        server.shutdown()
        serving.join(5)
        server.server_close()
        store.close()


def _post(server: LocalServer, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        server.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("notify_url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", "loopback"),
        ("http://10.0.0.8:8080/hook", "loopback"),
        ("http://user:secret-pw@127.0.0.1:9/hook", "user:password@"),
    ],
)
def test_a_notify_url_no_receiver_accepts_is_refused_at_start(
    api: tuple[Harness, LocalServer], notify_url: str, says: str
) -> None:
    h, server = api
    status, body = _post(server, "/v1/promises", {"id": "p-1", "timeout_s": 60, "notify_url": notify_url})
    assert status == 400 and says in body["error"]["message"], body
    assert "secret-pw" not in json.dumps(body)
    assert h.store.get_promise("p-1") is None


def test_a_notify_url_matching_no_configured_receiver_says_what_to_configure(
    api: tuple[Harness, LocalServer],
) -> None:
    from lambda_resolver.delivery import Receivers

    h, server = api
    h.ctx.notifier = HttpNotifier(Receivers(), lambda kind, record_id: {})
    status, body = _post(
        server, "/v1/promises", {"id": "p-2", "timeout_s": 60, "notify_url": "https://x.example/h"}
    )
    assert status == 400 and "NotifyReceiversSecretArn" in body["error"]["message"], body


# -- userinfo: never sent, never shown -------------------------------------------------------------
def test_userinfo_stored_before_it_was_refused_is_neither_sent_nor_shown(
    h: Harness, receiver: LoopbackReceiver
) -> None:
    url = f"http://admin:hunter2@127.0.0.1:{receiver.port}/hook"
    h.ctx.notifier = HttpNotifier(SECRET_A, lambda kind, record_id: {"id": record_id})
    assert h.ctx.notifier.notify("promise", "p-old", url) is True
    (got,) = receiver.received
    assert "authorization" not in got.headers and b"hunter2" not in got.body
    verify(SECRET_A, got.headers, got.body)
    with pytest.raises(WebhookVerificationError):
        verify(SECRET_B, got.headers, got.body)
    run = Run(run_id="r-old", flow="f", flow_version=1, state=RunState.SUCCESS, created_at=0, notify_url=url)
    assert "hunter2" not in json.dumps(run_summary(run))
    assert run_summary(run)["notify_url"] == f"http://127.0.0.1:{receiver.port}/hook"


def test_a_private_receiver_the_operator_allowed_is_signed_with_its_own_secret(
    h: Harness, receiver: LoopbackReceiver
) -> None:
    from lambda_resolver.delivery import Receivers

    receivers = Receivers.parse(
        json.dumps(
            {
                "receivers": [
                    {"url": f"{receiver.url}/a/", "secret": SECRET_A, "private": True},
                    {"url": f"{receiver.url}/b/", "secret": SECRET_B, "private": True},
                    {"url": f"{receiver.url}/c/", "secret": SECRET_B},
                ]
            }
        )
    )
    notifier = HttpNotifier(receivers, lambda kind, record_id: {"id": record_id})
    assert notifier.notify("promise", "p-a", f"{receiver.url}/a/1") is True
    assert notifier.notify("promise", "p-b", f"{receiver.url}/b/1") is True
    assert notifier.notify("promise", "p-c", f"{receiver.url}/c/1") is False  # no "private": refused
    a, b = receiver.received
    assert verify(SECRET_A, a.headers, a.body)["data"] == {"id": "p-a"}
    assert verify(SECRET_B, b.headers, b.body)["data"] == {"id": "p-b"}
    with pytest.raises(WebhookVerificationError):
        verify(SECRET_A, b.headers, b.body)
    assert receiver.connections == 2


def test_a_settled_promise_reaches_a_loopback_receiver(h: Harness, receiver: LoopbackReceiver) -> None:
    h.ctx.notifier = HttpNotifier(SECRET_A, lambda kind, record_id: {"id": record_id})
    h.engine.standalone.create("p-3", timeout_s=60, notify_url=f"{receiver.url}/hook")
    h.engine.settle("p-3", PromiseState.RESOLVED, value=1)
    h.advance(0)
    (got,) = receiver.received
    assert verify(SECRET_A, got.headers, got.body) == {
        "type": "lakehook.promise.finished",
        "data": {"id": "p-3"},
    }


def _certificate(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for ``name``: (the server's context, a client context trusting it)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp_path / f"{name}.pem"
    key_pem = tmp_path / f"{name}.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_pem, key_pem)
    client = ssl.create_default_context(cafile=str(cert_pem))
    return server, client


def test_tls_to_the_checked_address_is_verified_for_the_name(tmp_path: Path) -> None:
    from lambda_resolver.delivery import DeliveryError, post

    server, client = _certificate(tmp_path, "receiver.test")
    pinned = {"resolve": lambda host, port: ["127.0.0.1"], "allow_private": True, "tls": client}
    with LoopbackReceiver(tls=server) as receiver:
        status = post(f"https://receiver.test:{receiver.port}/hooks/x", b"{}", {}, **pinned)  # type: ignore[arg-type]
        assert status == 200 and receiver.received[0].headers["host"] == f"receiver.test:{receiver.port}"
        # The certificate is checked against the name, not the address it was pinned to.
        with pytest.raises(DeliveryError, match=r"certificate|hostname"):
            post(f"https://other.test:{receiver.port}/hooks/x", b"{}", {}, **pinned)  # type: ignore[arg-type]
        assert len(receiver.received) == 1
