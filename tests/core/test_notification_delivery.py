"""A slow receiver stalls nothing (issue 12, finding 1): an attempt is counted before it is sent,
ends at its deadline however the receiver trickles, goes out after the reconciler's other due
work, and never on a callback's request path."""

from __future__ import annotations

import dataclasses
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core import notifications
from lambda_resolver.core.engine import promise_document
from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.core.models import PromiseState
from lambda_resolver.http import Services, create_app, run_document
from lambda_resolver.http.local_server import serve
from lambda_resolver.stores.sqlite import SqliteStore
from lambda_resolver.webhooks import HttpNotifier
from notebook_lib.handle import decode_handle

from support.harness import SETTINGS, Harness
from support.receivers import LoopbackReceiver

SECRET = "whsec_" + "bm90aWZ5LXNlY3JldC1ub3RpZnktc2VjcmV0LTEyMzQ="
DEADLINE_S = 1.0  # the receiver below would trickle for 8 s
GENEROUS_S = 5.0


def _document(h: Harness) -> Any:
    def document(kind: str, record_id: str) -> dict[str, Any]:
        if kind == "run":
            return run_document(h.engine, record_id)
        return promise_document(h.engine.get_promise(record_id))

    return document


@pytest.fixture
def trickling() -> Iterator[LoopbackReceiver]:
    with LoopbackReceiver(trickle_s=0.25, trickle_bytes=32) as receiver:
        yield receiver


def test_a_trickling_receiver_ends_at_its_deadline_after_the_pass_applied_a_due_timeout(
    h: Harness, trickling: LoopbackReceiver
) -> None:
    inner = HttpNotifier(SECRET, _document(h), timeout_s=DEADLINE_S)
    seen: dict[str, Any] = {}

    class Watching:
        """The real notifier, noting what the store held when the send began."""

        def refusal(self, url: str) -> str | None:
            return inner.refusal(url)

        def notify(self, kind: str, record_id: str, url: str) -> bool:
            claimed = h.store.get_promise(record_id)
            assert claimed is not None
            seen["other"] = h.engine.get_promise("other").state
            seen["claimed"] = (claimed.notify_attempts, claimed.due_at)
            began = time.monotonic()
            seen["ok"] = inner.notify(kind, record_id, url)
            seen["took_s"] = time.monotonic() - began
            return bool(seen["ok"])

    h.engine.standalone.create("order", timeout_s=60, notify_url=f"{trickling.url}/hooks/order")
    h.engine.standalone.create("other", timeout_s=31)
    h.engine.settle("order", PromiseState.RESOLVED, value={"ok": True})  # no notifier yet: nothing sent
    h.ctx.notifier = Watching()
    h.clock.advance(31_000)  # the notification and the other promise's timeout are due together
    now, before = h.clock.now(), h.engine.get_promise("order").notify_attempts
    began = time.monotonic()
    h.engine.reconcile()
    pass_s = time.monotonic() - began

    assert seen["other"] is PromiseState.REJECTED_TIMEDOUT, "the timeout waited for the receiver"
    counted = (before + 1, now + notifications.backoff(h.ctx, before + 1))
    assert seen["claimed"] == counted, "the attempt was not counted before it was sent"
    assert seen["ok"] is False and trickling.connections == 1
    assert seen["took_s"] < GENEROUS_S, f"the delivery ran {seen['took_s']:.1f} s, past its deadline"
    assert pass_s < GENEROUS_S, f"the pass took {pass_s:.1f} s"
    after = h.engine.get_promise("order")
    assert (after.notify_attempts, after.notified_at, after.due_at) == (counted[0], None, counted[1])


def test_a_notification_the_worker_could_not_take_is_retried_by_the_reconciler(h: Harness) -> None:
    calls: list[tuple[str, str, int]] = []

    class Down:
        def __call__(self, kind: str, record_id: str, attempt: int) -> None:
            calls.append((kind, record_id, attempt))
            raise ConnectionError("the worker is unreachable")

    h.ctx.notifier = HttpNotifier(SECRET, _document(h))
    h.ctx.dispatch = Down()
    h.engine.standalone.create("order", timeout_s=60, notify_url="http://127.0.0.1:9/hook")
    h.engine.settle("order", PromiseState.RESOLVED, value=1)  # the settle stands
    assert calls == [("promise", "order", 1)]
    assert h.engine.get_promise("order").state is PromiseState.RESOLVED
    h.advance(h.settings.notify_backoff_ms - 1)
    assert len(calls) == 1  # not before its back-off
    h.advance(1)
    assert calls[-1] == ("promise", "order", 2)


def test_a_stale_attempt_is_not_sent(h: Harness) -> None:
    sent: list[str] = []

    class Counting:
        def refusal(self, url: str) -> str | None:
            return None

        def notify(self, kind: str, record_id: str, url: str) -> bool:
            sent.append(record_id)
            return True

    claimed: list[tuple[str, str, int]] = []
    h.ctx.notifier = Counting()
    h.ctx.dispatch = lambda kind, record_id, attempt: claimed.append((kind, record_id, attempt))
    h.engine.standalone.create("order", timeout_s=60, notify_url="https://backend.example/hook")
    h.engine.settle("order", PromiseState.RESOLVED, value=1)
    h.advance(h.settings.notify_backoff_ms)  # the first attempt never ran: a second is claimed
    assert [c[2] for c in claimed] == [1, 2]
    assert notifications.send(h.ctx, *claimed[0]) is False and sent == []  # attempt 1 is stale
    assert notifications.send(h.ctx, *claimed[1]) is True and sent == ["order"]
    assert notifications.send(h.ctx, *claimed[1]) is False  # delivered: never again


# -- the callback path ---------------------------------------------------------------------------
@dataclasses.dataclass
class Served:
    h: Harness
    url: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The HTTP API on loopback over a harness whose notifications a worker thread delivers."""
    from lambda_resolver.core.notifications import DeliveryWorker

    box: dict[str, Harness] = {}
    signer = TokenSigner({"k1": b"0123456789abcdef0123456789abcdef"}, "k1")
    services = Services(engine=lambda: box["h"].engine, signer=signer, operator_open=True)
    server = serve(create_app(services), "127.0.0.1", 0, start=False)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    serving.start()
    store = SqliteStore(tmp_path / "lakehook.db")
    h = box["h"] = Harness(store, settings=SETTINGS._replace(callback_url=server.url))
    h.ctx.notifier = HttpNotifier(SECRET, _document(h), timeout_s=60)
    h.ctx.dispatch = worker = DeliveryWorker(h.ctx)
    try:
        yield Served(h, server.url)
    finally:
        worker.close(0.1)
        server.shutdown()
        serving.join(5)
        server.server_close()
        store.close()


def test_a_callback_is_answered_while_its_notification_is_still_in_flight(served: Served) -> None:
    h = served.h
    with LoopbackReceiver(hold=True) as receiver:
        job = {"job_id": 7, "params": {}}
        h.engine.standalone.create("order", timeout_s=60, job=job, notify_url=f"{receiver.url}/hooks/order")
        handle = decode_handle(h.launcher.run_for("order").request.parameters["lakehook"])
        request = urllib.request.Request(
            f"{served.url}/v1/promises/order/resolve",
            data=b'{"value": {"rows": 1}}',
            headers={"Authorization": f"Bearer {handle.token}", "Content-Type": "application/json"},
            method="POST",
        )
        # The receiver holds its answer for good: a callback that waited on it would time out.
        with urllib.request.urlopen(request, timeout=GENEROUS_S) as answer:
            assert answer.status == 200
        assert receiver.answered == 0
        assert len(receiver.wait(1)) == 1  # the worker is delivering meanwhile
        receiver.release()
        deadline = time.monotonic() + GENEROUS_S
        while h.engine.get_promise("order").notified_at is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert h.engine.get_promise("order").notified_at is not None


def test_a_pass_without_a_worker_sends_a_bounded_number_and_leaves_the_rest_due(h: Harness) -> None:
    sent: list[str] = []

    class Counting:
        def refusal(self, url: str) -> str | None:
            return None

        def notify(self, kind: str, record_id: str, url: str) -> bool:
            sent.append(record_id)
            return True

    h.ctx.notifier = Counting()
    count = notifications.INLINE_PER_PASS + 2
    for i in range(count):
        h.engine.standalone.create(f"p-{i}", timeout_s=60, notify_url="https://backend.example/hook")
        h.engine.settle(f"p-{i}", PromiseState.RESOLVED, value=i)
    first = h.engine.reconcile()
    assert len(sent) == notifications.INLINE_PER_PASS
    assert first == {"notify_claimed": notifications.INLINE_PER_PASS, "notify_deferred": 2}
    h.engine.reconcile()
    assert sorted(sent) == sorted(f"p-{i}" for i in range(count))  # each once
    assert all(h.engine.get_promise(f"p-{i}").notified_at is not None for i in range(count))
