"""The Python client against the real API: the app served on loopback by the local server,
over the Harness engine (SQLite file, fake launcher, fake clock), with the operator key set and
the door closed to callers without it — as on AWS behind a Function URL.

``Stack.notebooks`` plays the notebooks: it calls back with ``notify_done`` through the handles
the fake launcher received, from another thread, the way clusters do.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.client import LakehookClient
from lambda_resolver.core.engine import promise_document
from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.core.notifications import DeliveryWorker
from lambda_resolver.http import Services, create_app, run_document
from lambda_resolver.http.local_server import LocalServer, serve
from lambda_resolver.stores.sqlite import SqliteStore
from lambda_resolver.webhooks import HttpNotifier
from notebook_lib import notify_done

from support.harness import SETTINGS, Harness

OPERATOR_KEY = "client-test-operator-key-0123456789"
NOTIFY_SECRET = "whsec_" + base64.b64encode(b"n" * 32).decode()
HARNESS_KEY = {"k1": b"0123456789abcdef0123456789abcdef"}  # the Harness's signing key


@dataclass
class Stack:
    """A served resolver: its URL, the engine behind it, and a client with the operator key."""

    server: LocalServer
    h: Harness
    client: LakehookClient
    operator_key: str = OPERATOR_KEY
    notify_secret: str = NOTIFY_SECRET

    @property
    def url(self) -> str:
        return self.server.url

    def notebooks(self, values: Callable[[str], Any] = lambda key: {"job": key}) -> Notebooks:
        """Start answering every triggered job with ``notify_done(values(job_key))``."""
        return Notebooks(self.h, values).start()


@dataclass
class Notebooks:
    """A thread that settles each run the fake launcher started, once, through the callback door."""

    h: Harness
    values: Callable[[str], Any]
    answered: set[int] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def start(self) -> Notebooks:
        self._thread = threading.Thread(target=self._loop, name="notebooks", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self.stop.is_set():
            for run_id, run in dict(self.h.launcher.runs).items():
                if run_id in self.answered:
                    continue
                self.answered.add(run_id)
                try:
                    value = self.values(run.request.job_key)
                    notify_done(value, handle=run.request.parameters["lakehook"], timeout_s=10)
                except BaseException as exc:  # reported by close(), never lost in the thread
                    self.errors.append(exc)
            time.sleep(0.01)

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(5)
        assert not self.errors, self.errors


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The API served on a free loopback port; handles the launcher receives call back to it."""
    box: dict[str, Harness] = {}
    services = Services(
        engine=lambda: box["h"].engine,
        signer=TokenSigner(HARNESS_KEY, "k1"),
        operator_key=OPERATOR_KEY,
        operator_open=False,
    )
    server = serve(create_app(services), "127.0.0.1", 0, start=False)
    # Served here rather than by server.start(): a short poll makes close() take 20 ms, not 500.
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    serving.start()
    store = SqliteStore(tmp_path / "lakehook.db")
    h = Harness(store, settings=SETTINGS._replace(callback_url=server.url))
    box["h"] = h

    def document(kind: str, record_id: str) -> dict[str, Any]:  # as the Lambda wires it
        if kind == "run":
            return run_document(h.engine, record_id)
        return promise_document(h.engine.get_promise(record_id))

    h.ctx.notifier = HttpNotifier(NOTIFY_SECRET, document)
    h.ctx.dispatch = worker = DeliveryWorker(h.ctx)  # as lakehook dev: a thread delivers
    try:
        yield Stack(server, h, LakehookClient(server.url, operator_key=OPERATOR_KEY, timeout_s=10))
    finally:
        worker.close()
        server.shutdown()
        serving.join(5)
        server.server_close()
        store.close()


@dataclass
class Receiver:
    """A backend's webhook endpoint on loopback: records each request's headers and body."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def wait(self, count: int = 1, timeout_s: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/lakehook", got)
    finally:
        server.shutdown()
        server.server_close()
