"""The SQLite store: the embedded default. One file, WAL, one transaction per transition.

Each record is a JSON document plus the columns its conditions and indexes need. A change
runs in one ``BEGIN IMMEDIATE`` transaction whose ``UPDATE ... WHERE`` carries the condition
(the ``from`` state, the attempt), so a stale decision loses instead of overwriting. The file and
its connections are in :mod:`.sqlite_db`; runs and tasks in :mod:`.sqlite_runs`; promises and
the writes that change a task with its attempt's promise in :mod:`.sqlite_attempts`; schedules in
:mod:`.sqlite_schedules`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import (
    DueItem,
    Promise,
    PromiseState,
    from_doc,
)
from lambda_resolver.stores.sqlite_attempts import SqliteAttempts
from lambda_resolver.stores.sqlite_db import SCHEMA, _dumps
from lambda_resolver.stores.sqlite_iterations import SqliteIterations
from lambda_resolver.stores.sqlite_schedules import DUE_SELECT, SqliteSchedules

if TYPE_CHECKING:
    from lambda_resolver.wiring import StoreUrl

__all__ = ["SCHEMA", "SqliteStore", "from_url"]


class SqliteStore(SqliteAttempts, SqliteSchedules, SqliteIterations):
    """A :class:`~lambda_resolver.core.store.Store` in one SQLite file (see :class:`SqliteDb`)."""

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    # -- promises ---------------------------------------------------------------------------------
    def create_promise(self, promise: Promise) -> tuple[Promise, bool]:
        with self._tx() as con:
            return self._insert_promise(con, promise)

    def get_promise(self, promise_id: str) -> Promise | None:
        return self._promise(self._con(), promise_id)

    def update_promise(
        self,
        promise_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: PromiseState | None = PromiseState.PENDING,
        deadline_after: int | None = None,
        deadline_at_or_before: int | None = None,
    ) -> Promise:
        with self._tx() as con:
            return self._update_promise_in(
                con,
                promise_id,
                changes,
                expect_state=expect_state,
                deadline_after=deadline_after,
                deadline_at_or_before=deadline_at_or_before,
            )

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
