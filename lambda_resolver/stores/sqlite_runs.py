"""The SQLite store's runs and tasks: runs, tasks, the edges between them, propagation, slots.

The run-and-task half of :class:`~lambda_resolver.stores.sqlite.SqliteStore`, as
``dynamodb_tasks`` is the DynamoDB store's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.models import (
    Run,
    RunState,
    Task,
    TaskState,
    from_doc,
    to_doc,
)
from lambda_resolver.stores.sqlite_db import _RUN_COLS, _TASK_COLS, SqliteDb, _dumps, _plain


class SqliteRuns(SqliteDb):
    """Runs, tasks, edges, leaf propagation and concurrency slots; each change one transaction."""

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
        with self._tx() as con:
            return self._update_task_in(
                con, run_id, key, changes, expect_states=expect_states, expect_attempt=expect_attempt
            )

    def _update_task_in(
        self,
        con: sqlite3.Connection,
        run_id: str,
        key: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int | None,
    ) -> Task:
        """update_task inside the caller's transaction."""
        states = [s.value for s in expect_states]
        where = f"run_id = ? AND key = ? AND state IN ({','.join('?' * len(states))})"
        args: list[Any] = [run_id, key, *states]
        if expect_attempt is not None:
            where += " AND attempt = ?"
            args.append(expect_attempt)
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
            return self._deliver_in(con, run_id, child, parent, outcome)

    def _deliver_in(
        self, con: sqlite3.Connection, run_id: str, child: str, parent: str, outcome: str
    ) -> tuple[Task, bool]:
        """deliver_edge inside the caller's transaction."""
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
