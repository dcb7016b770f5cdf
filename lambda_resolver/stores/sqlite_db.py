"""The SQLite store's file: its schema, and its connections (a pool, one per thread).

Each record is a JSON document plus the columns its conditions and indexes need; every change
runs in one ``BEGIN IMMEDIATE`` transaction (:meth:`SqliteDb._tx`).
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS promises (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, timeout_at INTEGER NOT NULL,
    due_at INTEGER, dbx_run_id INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS promises_due ON promises(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS promises_dbx ON promises(dbx_run_id) WHERE dbx_run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS flows (
    name TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL, created_at INTEGER NOT NULL,
    PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, flow TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL,
    due_at INTEGER, open_leaves INTEGER NOT NULL, failed_leaves INTEGER NOT NULL DEFAULT 0,
    canceled_leaves INTEGER NOT NULL DEFAULT 0, any_failed INTEGER NOT NULL DEFAULT 0,
    tasks_total INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_due ON runs(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_flow ON runs(flow, created_at, run_id);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at, run_id);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL,
    waiting INTEGER NOT NULL, propagated INTEGER NOT NULL DEFAULT 0, due_at INTEGER,
    doc TEXT NOT NULL, PRIMARY KEY (run_id, key));
CREATE INDEX IF NOT EXISTS tasks_due ON tasks(due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS edges (
    run_id TEXT NOT NULL, child TEXT NOT NULL, parent TEXT NOT NULL, outcome TEXT NOT NULL,
    PRIMARY KEY (run_id, child, parent));
CREATE TABLE IF NOT EXISTS slots (
    flow TEXT NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY (flow, run_id));
"""

_PROMISE_COLS = ("state", "timeout_at", "due_at", "databricks_run_id")
_TASK_COLS = ("state", "attempt", "waiting", "propagated", "due_at")
_RUN_COLS = ("state", "due_at", "open_leaves", "failed_leaves", "canceled_leaves", "any_failed")


def _dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _plain(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Changes with enum members replaced by their values, ready for a JSON document."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in changes.items()}


class _Lease:
    """A thread's hold on a pooled connection: when the thread ends, its thread-local storage
    drops the lease and the connection goes back to the pool (``SimpleQueue.put`` is safe in a
    finalizer). Nothing else drops a lease while its thread lives, so no two live threads ever
    share a connection."""

    __slots__ = ("con", "pool")

    def __init__(self, con: sqlite3.Connection, pool: queue.SimpleQueue[sqlite3.Connection]) -> None:
        self.con = con
        self.pool = pool

    def __del__(self) -> None:
        self.pool.put(self.con)


class SqliteDb:
    """One SQLite file in WAL mode. Each thread uses its own connection, taken from a pool on its
    first call and given back when the thread ends: a server that starts a thread per request (the
    local HTTP server does) reuses a few connections instead of opening one per request and
    keeping them all open."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._local = threading.local()
        self._free: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._con().executescript(SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        lease: _Lease | None = getattr(self._local, "lease", None)
        if lease is None:
            try:
                con = self._free.get_nowait()
            except queue.Empty:
                con = self._connect()
            lease = _Lease(con, self._free)
            self._local.lease = lease
        return lease.con

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={self._synchronous}")
        con.execute("PRAGMA busy_timeout=30000")
        with self._lock:
            self._all.append(con)
        return con

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        con = self._con()
        for attempt in range(50):
            try:
                con.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:  # busy beyond busy_timeout under heavy load
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.01)
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def close(self) -> None:
        """Close the idle connections and the calling thread's; the store opens new ones on its
        next use. A connection another live thread holds — a request still in flight while a
        server stops — stays open with it and returns to the pool when that thread ends: closing
        it under a running statement crashes the interpreter."""
        if getattr(self._local, "lease", None) is not None:
            del self._local.lease  # its connection goes back to the pool, closed just below
        idle: list[sqlite3.Connection] = []
        while True:
            try:
                idle.append(self._free.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            for con in idle:
                con.close()
                self._all.remove(con)
