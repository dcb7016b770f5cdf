"""The SQLite store: the embedded default. One file, WAL, one transaction per transition.

Each record is a JSON document plus the columns its conditions and indexes need. A change
runs in one ``BEGIN IMMEDIATE`` transaction whose ``UPDATE ... WHERE`` carries the condition
(the ``from`` state, the attempt), so a stale decision loses instead of overwriting. The file and
its connections are in :mod:`.sqlite_db`; runs and tasks in :mod:`.sqlite_runs`; schedules in
:mod:`.sqlite_schedules`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import (
    DueItem,
    Promise,
    PromiseState,
    from_doc,
    to_doc,
)
from lambda_resolver.stores.sqlite_db import SCHEMA, _dumps, _plain
from lambda_resolver.stores.sqlite_iterations import SqliteIterations
from lambda_resolver.stores.sqlite_repair import SqliteRepairs
from lambda_resolver.stores.sqlite_schedules import DUE_SELECT, SqliteSchedules

if TYPE_CHECKING:
    from lambda_resolver.wiring import StoreUrl

__all__ = ["SCHEMA", "SqliteStore", "from_url"]


class SqliteStore(SqliteRepairs, SqliteSchedules, SqliteIterations):
    """A :class:`~lambda_resolver.core.store.Store` in one SQLite file (see :class:`SqliteDb`)."""

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

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

    # -- due index ----------------------------------------------------------------------------------
    def due(self, now: int, limit: int = 100) -> list[DueItem]:
        rows = (
            self._con()
            .execute(
                "SELECT * FROM ("
                " SELECT 'promise' AS kind, due_at, id, NULL AS task_key FROM promises WHERE due_at <= ?"
                " UNION ALL SELECT 'task', due_at, run_id, key FROM tasks WHERE due_at <= ?"
                " UNION ALL SELECT 'run', due_at, run_id, NULL FROM runs WHERE due_at <= ?"
                f" UNION ALL {DUE_SELECT}"
                ") ORDER BY due_at LIMIT ?",
                (now, now, now, now, limit),
            )
            .fetchall()
        )
        return [DueItem(kind=r[0], due_at=r[1], id=r[2], task_key=r[3]) for r in rows]


def from_url(url: StoreUrl, clients: Mapping[str, Any]) -> SqliteStore:
    """``sqlite:///path/to/lakehook.db`` (see :mod:`lambda_resolver.wiring`)."""
    return SqliteStore(url.location)
