"""The SQLite store's promises, and a task changed together with its attempt's promise.

Promises keep their own table; a change that spans a task and its attempt's promise (a claim
that creates the promise, a settle that finishes the task, a start that records the run on
both) is one ``BEGIN IMMEDIATE`` transaction with both conditions in its ``WHERE`` clauses — the
same contract the DynamoDB store meets with one item.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping
from typing import Any

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.ids import parse_task_promise_id
from lambda_resolver.core.models import Promise, PromiseState, Run, Task, TaskState, from_doc, to_doc
from lambda_resolver.stores.sqlite_db import _dumps, _plain
from lambda_resolver.stores.sqlite_repair import SqliteRepairs


class SqliteAttempts(SqliteRepairs):
    """Promises and attempt writes of :class:`~lambda_resolver.stores.sqlite.SqliteStore`."""

    # -- promises, inside a transaction ------------------------------------------------------------
    def _promise(self, con: sqlite3.Connection, promise_id: str) -> Promise | None:
        row = con.execute("SELECT doc FROM promises WHERE id = ?", (promise_id,)).fetchone()
        return None if row is None else from_doc(Promise, json.loads(row[0]))

    def _insert_promise(self, con: sqlite3.Connection, promise: Promise) -> tuple[Promise, bool]:
        """Insert ``promise`` unless its id exists: (stored promise, created)."""
        doc = to_doc(promise)
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

    def _update_promise_in(
        self,
        con: sqlite3.Connection,
        promise_id: str,
        changes: Mapping[str, Any],
        *,
        expect_state: PromiseState | None,
        deadline_after: int | None,
        deadline_at_or_before: int | None,
    ) -> Promise:
        """update_promise inside the caller's transaction."""
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

    # -- a task and its attempt's promise ------------------------------------------------------------
    def read_attempt(self, promise_id: str) -> tuple[Promise, Task, Run] | None:
        parsed = parse_task_promise_id(promise_id)
        if parsed is None:
            return None
        run_id, key, _ = parsed
        con = self._con()
        p, t, r = self._promise(con, promise_id), self._task(con, run_id, key), self._run(con, run_id)
        if p is None or t is None or r is None or t.promise_id != promise_id:
            return None
        return p, t, r

    def claim_task(
        self,
        run_id: str,
        key: str,
        changes: Mapping[str, Any],
        promise: Promise,
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int,
    ) -> tuple[Task, Promise]:
        with self._tx() as con:
            t = self._update_task_in(
                con, run_id, key, changes, expect_states=expect_states, expect_attempt=expect_attempt
            )
            p, _ = self._insert_promise(con, promise)
        return t, p

    def update_attempt(
        self,
        run_id: str,
        key: str,
        task_changes: Mapping[str, Any],
        promise_changes: Mapping[str, Any],
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int,
        expect_promise: PromiseState | None,
        deadline_after: int | None = None,
        deadline_at_or_before: int | None = None,
    ) -> tuple[Task, Promise]:
        with self._tx() as con:
            current = self._task(con, run_id, key)
            if current is None:
                raise NotFound(f"task '{key}' of run '{run_id}' does not exist")
            if current.promise_id is None:
                raise StoreConflict(f"task '{key}' of run '{run_id}' has no attempt", current)
            try:
                p = self._update_promise_in(
                    con,
                    current.promise_id,
                    promise_changes,
                    expect_state=expect_promise,
                    deadline_after=deadline_after,
                    deadline_at_or_before=deadline_at_or_before,
                )
            except (StoreConflict, NotFound):
                raise StoreConflict(f"task '{key}' of run '{run_id}': its promise changed", current) from None
            t = self._update_task_in(
                con, run_id, key, task_changes, expect_states=expect_states, expect_attempt=expect_attempt
            )  # a StoreConflict here rolls the promise's change back with it
        return t, p

    def deliver_and_claim(
        self,
        run_id: str,
        child: str,
        parent: str,
        outcome: str,
        *,
        changes: Mapping[str, Any],
        promise: Promise,
        expect_states: Collection[TaskState],
    ) -> tuple[Task, bool, Promise | None]:
        with self._tx() as con:
            t, delivered = self._deliver_in(con, run_id, child, parent, outcome)
            as_created = Task(run_id, child, TaskState.WAITING, 0, deps={parent: outcome})
            if not delivered or t != as_created or t.state not in expect_states:
                return t, delivered, None
            claimed = self._update_task_in(
                con, run_id, child, changes, expect_states=expect_states, expect_attempt=t.attempt
            )
            p, _ = self._insert_promise(con, promise)
        return claimed, True, p
