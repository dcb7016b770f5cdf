"""The SQLite store: the embedded default. One file, WAL, one transaction per transition.

Each record is a JSON document plus the columns its conditions and indexes need. A change
runs in one ``BEGIN IMMEDIATE`` transaction whose ``UPDATE ... WHERE`` carries the condition
(the ``from`` state, the attempt), so a stale decision loses instead of overwriting.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import (
    DueItem,
    Promise,
    PromiseState,
    Run,
    RunState,
    Task,
    TaskState,
    from_doc,
    to_doc,
)
from lambda_resolver.stores import sqlite_schedules

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


if TYPE_CHECKING:
    from lambda_resolver.wiring import StoreUrl


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


class SqliteStore(sqlite_schedules.SqliteSchedules):
    """A :class:`~lambda_resolver.core.store.Store` in one SQLite file (or ``:memory:``-like temp).

    Each thread uses its own connection, taken from a pool on its first call and given back when
    the thread ends: a server that starts a thread per request (the local HTTP server does) reuses
    a few connections instead of opening one per request and keeping them all open."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._local = threading.local()
        self._free: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._con().executescript(SCHEMA + sqlite_schedules.SCHEMA)

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

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

    # -- promises ---------------------------------------------------------------------------------
    def create_promise(self, promise: Promise) -> tuple[Promise, bool]:
        doc = to_doc(promise)
        with self._tx() as con:
            cur = con.execute(
                "INSERT OR IGNORE INTO promises (id, state, timeout_at, due_at, dbx_run_id, doc) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    promise.id,
                    doc["state"],
                    promise.timeout_at,
                    promise.due_at,
                    promise.databricks_run_id,
                    _dumps(doc),
                ),
            )
            if cur.rowcount == 1:
                return promise, True
            stored = self._promise(con, promise.id)
        assert stored is not None
        return stored, False

    def get_promise(self, promise_id: str) -> Promise | None:
        return self._promise(self._con(), promise_id)

    def _promise(self, con: sqlite3.Connection, promise_id: str) -> Promise | None:
        row = con.execute("SELECT doc FROM promises WHERE id = ?", (promise_id,)).fetchone()
        return None if row is None else from_doc(Promise, json.loads(row[0]))

    def update_promise(
        self,
        promise_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: PromiseState | None = PromiseState.PENDING,
        deadline_after: int | None = None,
        deadline_at_or_before: int | None = None,
    ) -> Promise:
        where: list[str] = ["id = ?"]
        args: list[Any] = [promise_id]
        if expect_state is not None:
            where.append("state = ?")
            args.append(expect_state.value)
        if deadline_after is not None:
            where.append("timeout_at > ?")
            args.append(deadline_after)
        if deadline_at_or_before is not None:
            where.append("timeout_at <= ?")
            args.append(deadline_at_or_before)
        with self._tx() as con:
            current = self._promise(con, promise_id)
            if current is None:
                raise NotFound(f"promise '{promise_id}' does not exist")
            doc = to_doc(current)
            doc.update(_plain(changes))
            new = from_doc(Promise, doc)
            cur = con.execute(
                "UPDATE promises SET state = ?, timeout_at = ?, due_at = ?, dbx_run_id = ?, doc = ? "
                f"WHERE {' AND '.join(where)}",
                (doc["state"], new.timeout_at, new.due_at, new.databricks_run_id, _dumps(doc), *args),
            )
            if cur.rowcount != 1:
                raise StoreConflict(f"promise '{promise_id}' is {current.state.value}", current)
        return new

    def promise_by_databricks_run(self, databricks_run_id: int) -> Promise | None:
        row = (
            self._con()
            .execute(
                "SELECT doc FROM promises WHERE dbx_run_id = ? ORDER BY rowid DESC LIMIT 1",
                (databricks_run_id,),
            )
            .fetchone()
        )
        return None if row is None else from_doc(Promise, json.loads(row[0]))

    # -- flows ------------------------------------------------------------------------------------
    def put_flow(self, manifest: FlowManifest) -> FlowManifest:
        with self._tx() as con:
            (latest,) = con.execute(
                "SELECT COALESCE(MAX(version), 0) FROM flows WHERE name = ?", (manifest.name,)
            ).fetchone()
            stored = manifest.with_version(latest + 1)
            con.execute(
                "INSERT INTO flows (name, version, doc, created_at) VALUES (?, ?, ?, ?)",
                (stored.name, stored.version, _dumps(stored.to_dict()), time.time_ns() // 1_000_000),
            )
        return stored

    def get_flow(self, name: str, version: int | None = None) -> FlowManifest | None:
        if version is None:
            row = (
                self._con()
                .execute("SELECT doc FROM flows WHERE name = ? ORDER BY version DESC LIMIT 1", (name,))
                .fetchone()
            )
        else:
            row = (
                self._con()
                .execute("SELECT doc FROM flows WHERE name = ? AND version = ?", (name, version))
                .fetchone()
            )
        return None if row is None else FlowManifest.from_dict(json.loads(row[0]))

    def list_flows(self) -> list[FlowManifest]:
        rows = (
            self._con()
            .execute(
                "SELECT f.doc FROM flows f JOIN (SELECT name, MAX(version) v FROM flows GROUP BY name) l "
                "ON f.name = l.name AND f.version = l.v ORDER BY f.name"
            )
            .fetchall()
        )
        return [FlowManifest.from_dict(json.loads(r[0])) for r in rows]

    # -- runs -------------------------------------------------------------------------------------
    def create_run(self, run: Run, tasks: Sequence[Task]) -> tuple[Run, bool]:
        doc = to_doc(run)
        with self._tx() as con:
            cur = con.execute(
                "INSERT OR IGNORE INTO runs (run_id, flow, state, created_at, due_at, open_leaves, "
                "tasks_total, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.run_id,
                    run.flow,
                    doc["state"],
                    run.created_at,
                    run.due_at,
                    run.open_leaves,
                    len(tasks),
                    _dumps(doc),
                ),
            )
            created = cur.rowcount == 1
            if created:
                con.executemany(
                    "INSERT INTO tasks (run_id, key, state, attempt, waiting, propagated, due_at, doc) "
                    "VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                    [
                        (t.run_id, t.key, t.state.value, t.attempt, t.waiting, t.due_at, _dumps(to_doc(t)))
                        for t in tasks
                    ],
                )
            stored = self._run(con, run.run_id)
        assert stored is not None
        return stored, created

    def get_run(self, run_id: str) -> Run | None:
        return self._run(self._con(), run_id)

    def _run(self, con: sqlite3.Connection, run_id: str) -> Run | None:
        row = con.execute(
            f"SELECT doc, {', '.join(_RUN_COLS)} FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        return None if row is None else self._run_from_row(row)

    @staticmethod
    def _run_from_row(row: Sequence[Any]) -> Run:
        doc = json.loads(row[0])
        doc.update(zip(_RUN_COLS, row[1:], strict=True))
        doc["any_failed"] = bool(doc["any_failed"])
        return from_doc(Run, doc)

    def list_runs(
        self,
        *,
        flow: str | None = None,
        state: RunState | None = None,
        limit: int = 100,
        before: tuple[int, str] | None = None,
    ) -> list[Run]:
        where: list[str] = []
        args: list[Any] = []
        if before is not None:
            where.append("(created_at < ? OR (created_at = ? AND run_id < ?))")
            args += [before[0], before[0], before[1]]
        if flow is not None:
            where.append("flow = ?")
            args.append(flow)
        if state is not None:
            where.append("state = ?")
            args.append(state.value)
        sql = f"SELECT doc, {', '.join(_RUN_COLS)} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, run_id DESC LIMIT ?"
        rows = self._con().execute(sql, (*args, limit)).fetchall()
        return [self._run_from_row(r) for r in rows]

    def update_run(
        self, run_id: str, changes: Mapping[str, Any], *, expect_states: Collection[RunState]
    ) -> Run:
        states = [s.value for s in expect_states]
        with self._tx() as con:
            current = self._run(con, run_id)
            if current is None:
                raise NotFound(f"run '{run_id}' does not exist")
            doc = to_doc(current)
            doc.update(_plain(changes))
            new = from_doc(Run, doc)
            cur = con.execute(
                "UPDATE runs SET state = ?, due_at = ?, doc = ? "
                f"WHERE run_id = ? AND state IN ({','.join('?' * len(states))})",
                (doc["state"], new.due_at, _dumps(doc), run_id, *states),
            )
            if cur.rowcount != 1:
                raise StoreConflict(f"run '{run_id}' is {current.state.value}", current)
        return new

    # -- tasks ------------------------------------------------------------------------------------
    def get_task(self, run_id: str, key: str) -> Task | None:
        return self._task(self._con(), run_id, key)

    def _task(self, con: sqlite3.Connection, run_id: str, key: str) -> Task | None:
        row = con.execute(
            f"SELECT doc, {', '.join(_TASK_COLS)} FROM tasks WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        if row is None:
            return None
        deps = dict(
            con.execute(
                "SELECT parent, outcome FROM edges WHERE run_id = ? AND child = ?", (run_id, key)
            ).fetchall()
        )
        return self._task_from_row(row, deps)

    @staticmethod
    def _task_from_row(row: Sequence[Any], deps: Mapping[str, str]) -> Task:
        doc = json.loads(row[0])
        doc.update(zip(_TASK_COLS, row[1:], strict=True))
        doc["propagated"] = bool(doc["propagated"])
        doc["deps"] = dict(deps)
        return from_doc(Task, doc)

    def list_tasks(self, run_id: str) -> list[Task]:
        con = self._con()
        edges: dict[str, dict[str, str]] = {}
        for child, parent, outcome in con.execute(
            "SELECT child, parent, outcome FROM edges WHERE run_id = ?", (run_id,)
        ):
            edges.setdefault(child, {})[parent] = outcome
        rows = con.execute(
            f"SELECT doc, {', '.join(_TASK_COLS)}, key FROM tasks WHERE run_id = ? ORDER BY rowid", (run_id,)
        ).fetchall()
        return [self._task_from_row(r[:-1], edges.get(r[-1], {})) for r in rows]

    def update_task(
        self,
        run_id: str,
        key: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int | None = None,
    ) -> Task:
        states = [s.value for s in expect_states]
        where = f"run_id = ? AND key = ? AND state IN ({','.join('?' * len(states))})"
        args: list[Any] = [run_id, key, *states]
        if expect_attempt is not None:
            where += " AND attempt = ?"
            args.append(expect_attempt)
        with self._tx() as con:
            current = self._task(con, run_id, key)
            if current is None:
                raise NotFound(f"task '{key}' of run '{run_id}' does not exist")
            doc = to_doc(current)
            doc.update(_plain(changes))
            new = from_doc(Task, doc)
            doc.pop("deps")
            cur = con.execute(
                f"UPDATE tasks SET state = ?, attempt = ?, propagated = ?, due_at = ?, doc = ? WHERE {where}",
                (doc["state"], new.attempt, int(new.propagated), new.due_at, _dumps(doc), *args),
            )
            if cur.rowcount != 1:
                raise StoreConflict(
                    f"task '{key}' of run '{run_id}' is {current.state.value} (attempt {current.attempt})",
                    current,
                )
        return new

    def deliver_edge(self, run_id: str, child: str, parent: str, outcome: str) -> tuple[Task, bool]:
        with self._tx() as con:
            cur = con.execute(
                "INSERT OR IGNORE INTO edges (run_id, child, parent, outcome) VALUES (?, ?, ?, ?)",
                (run_id, child, parent, outcome),
            )
            delivered = cur.rowcount == 1
            if delivered:  # the edge's primary key makes the count-down happen once per parent
                con.execute(
                    "UPDATE tasks SET waiting = waiting - 1 WHERE run_id = ? AND key = ?", (run_id, child)
                )
            task = self._task(con, run_id, child)
        if task is None:
            raise NotFound(f"task '{child}' of run '{run_id}' does not exist")
        return task, delivered

    def complete_propagation(self, run_id: str, key: str, *, leaf: str | None, failed: bool) -> Run | None:
        terminal = [s.value for s in TaskState if s.terminal]
        with self._tx() as con:
            cur = con.execute(
                "UPDATE tasks SET propagated = 1, due_at = NULL WHERE run_id = ? AND key = ? "
                f"AND propagated = 0 AND state IN ({','.join('?' * len(terminal))})",
                (run_id, key, *terminal),
            )
            if cur.rowcount != 1:
                return None
            if leaf is not None or failed:
                con.execute(
                    "UPDATE runs SET open_leaves = open_leaves - ?, failed_leaves = failed_leaves + ?, "
                    "canceled_leaves = canceled_leaves + ?, any_failed = MAX(any_failed, ?) WHERE run_id = ?",
                    (
                        int(leaf is not None),
                        int(leaf == "failed"),
                        int(leaf == "canceled"),
                        int(failed),
                        run_id,
                    ),
                )
            return self._run(con, run_id)

    # -- slots --------------------------------------------------------------------------------------
    def acquire_slot(self, flow: str, run_id: str, limit: int) -> bool:
        with self._tx() as con:
            if con.execute("SELECT 1 FROM slots WHERE flow = ? AND run_id = ?", (flow, run_id)).fetchone():
                return True
            cur = con.execute(
                "INSERT INTO slots (flow, run_id) SELECT ?, ? "
                "WHERE (SELECT COUNT(*) FROM slots WHERE flow = ?) < ?",
                (flow, run_id, flow, limit),
            )
            return cur.rowcount == 1

    def release_slot(self, flow: str, run_id: str) -> None:
        with self._tx() as con:
            con.execute("DELETE FROM slots WHERE flow = ? AND run_id = ?", (flow, run_id))

    def slot_holders(self, flow: str) -> list[str]:
        rows = self._con().execute("SELECT run_id FROM slots WHERE flow = ?", (flow,)).fetchall()
        return [r[0] for r in rows]

    # -- due index ----------------------------------------------------------------------------------
    def due(self, now: int, limit: int = 100) -> list[DueItem]:
        rows = (
            self._con()
            .execute(
                "SELECT * FROM ("
                " SELECT 'promise' AS kind, due_at, id, NULL AS task_key FROM promises WHERE due_at <= ?"
                " UNION ALL SELECT 'task', due_at, run_id, key FROM tasks WHERE due_at <= ?"
                " UNION ALL SELECT 'run', due_at, run_id, NULL FROM runs WHERE due_at <= ?"
                f" UNION ALL {sqlite_schedules.DUE_SELECT}"
                ") ORDER BY due_at LIMIT ?",
                (now, now, now, now, limit),
            )
            .fetchall()
        )
        return [DueItem(kind=r[0], due_at=r[1], id=r[2], task_key=r[3]) for r in rows]


def from_url(url: StoreUrl, clients: Mapping[str, Any]) -> SqliteStore:
    """``sqlite:///path/to/lakehook.db`` (see :mod:`lambda_resolver.wiring`)."""
    return SqliteStore(url.location)
