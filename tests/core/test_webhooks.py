"""Signed completion webhooks: the verifier accepts what the resolver signs and nothing else."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lambda_resolver.webhooks import HttpNotifier, WebhookVerificationError, headers, verify

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
BODY = b'{"type":"lakehook.run.finished","data":{"run_id":"r1"}}'
NOW = 1_790_000_000


def test_a_signed_message_verifies_and_returns_its_payload() -> None:
    h = headers(SECRET, "msg_run_r1", BODY, timestamp=NOW)
    assert verify(SECRET, h, BODY, now=NOW + 10) == json.loads(BODY)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, b: (h, b + b" "), "no signature matches"),  # a tampered body
        (lambda h, b: ({**h, "webhook-id": "other"}, b), "no signature matches"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing"),
        (lambda h, b: ({**h, "webhook-timestamp": str(NOW - 301)}, b), "from now"),  # stale or replayed
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "not a number"),
    ],
)
def test_a_forged_stale_or_tampered_message_is_rejected(mutate: Any, reason: str) -> None:
    h, body = mutate(headers(SECRET, "msg_run_r1", BODY, timestamp=NOW), BODY)
    with pytest.raises(WebhookVerificationError, match=reason):
        verify(SECRET, h, body, now=NOW)


def test_a_message_signed_with_another_secret_is_rejected() -> None:
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, headers(other, "m", BODY, timestamp=NOW), BODY, now=NOW)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]], list[int]]]:
    got: list[tuple[dict[str, str], bytes]] = []
    statuses = [500, 200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((dict(self.headers), body))
            self.send_response(statuses.pop(0) if statuses else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got, statuses
    server.shutdown()


def test_the_notifier_posts_a_document_the_verifier_accepts(receiver: Any) -> None:
    url, got, _ = receiver
    notifier = HttpNotifier(SECRET, lambda kind, rid: {"run_id": rid, "state": "SUCCESS"})
    assert notifier.notify("run", "r1", url) is False  # the receiver answered 500
    assert notifier.notify("run", "r1", url) is True
    (h1, _), (h2, b2) = got
    assert h1["webhook-id"] == h2["webhook-id"] == "msg_run_r1"  # stable: receivers deduplicate
    payload = verify(SECRET, h2, b2)
    assert payload == {"type": "lakehook.run.finished", "data": {"run_id": "r1", "state": "SUCCESS"}}


def test_the_notifier_counts_an_unreachable_receiver_as_a_failed_attempt() -> None:
    notifier = HttpNotifier(SECRET, lambda kind, rid: {}, timeout_s=0.5)
    assert notifier.notify("promise", "p", "http://127.0.0.1:9/") is False
