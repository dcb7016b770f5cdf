"""SqliteStore's connections: one per live thread, reused once a thread ends.

The local HTTP server starts a thread per request; a connection per thread kept for the store's
life meant one more open connection (two file descriptors, its page cache) per callback — about
10,000 of them for a 10,000-task flow, past the usual descriptor limit.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lambda_resolver.core.models import Promise, PromiseState
from lambda_resolver.stores.sqlite import SqliteStore


def promise(pid: str) -> Promise:
    return Promise(id=pid, state=PromiseState.PENDING, created_at=0, timeout_at=10**12)


def in_thread(fn: object) -> None:
    t = threading.Thread(target=fn)  # type: ignore[arg-type]
    t.start()
    t.join(10)


def test_a_thread_per_request_reuses_a_few_connections(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    try:
        for i in range(200):
            in_thread(lambda i=i: store.create_promise(promise(f"p{i}")))
        assert len(store._all) <= 3  # this thread's and the one the request threads pass on
        got = store.get_promise("p199")
        assert got is not None and got.id == "p199"
    finally:
        store.close()


def test_threads_alive_at_once_never_share_a_connection(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    n = 6
    barrier = threading.Barrier(n)
    used: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        store.create_promise(promise(f"q{i}"))
        with lock:
            used.append(id(store._con()))
        barrier.wait(10)  # every thread holds its connection at this point

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(set(used)) == n
        assert all(store.get_promise(f"q{i}") is not None for i in range(n))
    finally:
        store.close()


def test_a_closed_store_opens_fresh_connections_on_next_use(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    in_thread(lambda: store.create_promise(promise("a")))  # its connection is back in the pool
    store.close()
    try:
        in_thread(lambda: store.create_promise(promise("b")))  # not a closed one from the old pool
        assert store.get_promise("a") is not None and store.get_promise("b") is not None
    finally:
        store.close()


def test_close_leaves_a_live_thread_its_connection(tmp_path: Path) -> None:
    """A request still in flight when the local stack stops keeps working: closing its connection
    under it used to crash the interpreter (a segfault inside sqlite3)."""
    store = SqliteStore(tmp_path / "s.db")
    holding, closed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def in_flight() -> None:
        try:
            store.create_promise(promise("before"))
            holding.set()
            closed.wait(10)
            store.create_promise(promise("after"))  # on its own connection, still open
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=in_flight)
    t.start()
    try:
        assert holding.wait(10)
        store.close()
        closed.set()
        t.join(10)
        assert errors == []
        assert store.get_promise("after") is not None
    finally:
        closed.set()
        store.close()
