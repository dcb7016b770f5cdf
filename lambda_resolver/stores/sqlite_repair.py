"""The SQLite store's repair writes (DESIGN §9): each one transaction with its condition.

``begin_repair`` moves a final run back to RUNNING with its leaf counters set anew, on the
condition that no other repair came first (``latest_repair_id`` as the caller saw it);
``reset_task`` sends a finished task back to WAITING and deletes the edges its rerunning
parents delivered, counting ``waiting`` up by the rows deleted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.models import Run, RunState, Task, TaskState, from_doc, to_doc
from lambda_resolver.stores.sqlite_db import _dumps, _plain
from lambda_resolver.stores.sqlite_runs import SqliteRuns


class SqliteRepairs(SqliteRuns):
    """The runs and tasks of :class:`~lambda_resolver.stores.sqlite.SqliteStore`, with repairs."""

    def begin_repair(
        self,
        run_id: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[RunState],
        expect_repair_id: int | None,
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
                "UPDATE runs SET state = ?, due_at = ?, open_leaves = ?, failed_leaves = ?, "
                "canceled_leaves = ?, any_failed = ?, doc = ? "
                f"WHERE run_id = ? AND state IN ({','.join('?' * len(states))}) "
                "AND json_extract(doc, '$.latest_repair_id') IS ?",
                (
                    doc["state"],
                    new.due_at,
                    new.open_leaves,
                    new.failed_leaves,
                    new.canceled_leaves,
                    int(new.any_failed),
                    _dumps(doc),
                    run_id,
                    *states,
                    expect_repair_id,
                ),
            )
            if cur.rowcount != 1:
                raise StoreConflict(
                    f"run '{run_id}' is {current.state.value} (latest repair {current.latest_repair_id})",
                    current,
                )
        return new

    def reset_task(
        self,
        run_id: str,
        key: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[TaskState],
        expect_attempt: int,
        drop_edges: Collection[str],
    ) -> Task:
        states = [s.value for s in expect_states]
        with self._tx() as con:  # an exception below rolls the deleted edges back
            current = self._task(con, run_id, key)
            if current is None:
                raise NotFound(f"task '{key}' of run '{run_id}' does not exist")
            conflict = StoreConflict(
                f"task '{key}' of run '{run_id}' is {current.state.value} (attempt {current.attempt})",
                current,
            )
            if current.state.value not in states or current.attempt != expect_attempt:
                raise conflict
            parents = sorted(drop_edges)
            taken = 0
            if parents:
                taken = con.execute(
                    "DELETE FROM edges WHERE run_id = ? AND child = ? "
                    f"AND parent IN ({','.join('?' * len(parents))})",
                    (run_id, key, *parents),
                ).rowcount
            doc = to_doc(current)
            doc.update(_plain(changes))
            doc["deps"] = {p: o for p, o in current.deps.items() if p not in drop_edges}
            doc["waiting"] = current.waiting + taken
            new = from_doc(Task, doc)
            doc.pop("deps")
            cur = con.execute(
                "UPDATE tasks SET state = ?, attempt = ?, propagated = ?, due_at = ?, waiting = waiting + ?, "
                f"doc = ? WHERE run_id = ? AND key = ? AND state IN ({','.join('?' * len(states))}) "
                "AND attempt = ?",
                (
                    doc["state"],
                    new.attempt,
                    int(new.propagated),
                    new.due_at,
                    taken,
                    _dumps(doc),
                    run_id,
                    key,
                    *states,
                    expect_attempt,
                ),
            )
            if cur.rowcount != 1:
                raise conflict
        return new
