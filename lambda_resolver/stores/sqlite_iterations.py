"""The SQLite store's for_each loops: one ``loops`` row per for_each attempt (its inputs and
counters) and one ``iterations`` row per claimed iteration.

A claim is one ``BEGIN IMMEDIATE`` transaction: the ``UPDATE loops ... WHERE next = ? AND active
< concurrency AND NOT stopped`` carries the condition, and the iteration row and its first promise
are inserted in the same transaction. Counting an iteration off is one transaction whose ``UPDATE
iterations ... WHERE state = 'RUNNING' AND promise_id = ?`` lets exactly one caller move the
counters.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from lambda_resolver.core.errors import NotFound, StoreConflict
from lambda_resolver.core.iterations import Iteration, IterationState, Loop
from lambda_resolver.core.models import Promise, to_doc
from lambda_resolver.stores.sqlite_db import SqliteDb, _dumps, _plain

LOOP_SCHEMA = """
CREATE TABLE IF NOT EXISTS loops (
    run_id TEXT NOT NULL, task_key TEXT NOT NULL, attempt INTEGER NOT NULL,
    next INTEGER NOT NULL, active INTEGER NOT NULL, concurrency INTEGER NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0, ended TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (run_id, task_key, attempt));
CREATE TABLE IF NOT EXISTS iterations (
    run_id TEXT NOT NULL, task_key TEXT NOT NULL, attempt INTEGER NOT NULL, idx INTEGER NOT NULL,
    state TEXT NOT NULL, promise_id TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (run_id, task_key, attempt, idx));
"""

_LOOP_SELECT = "SELECT next, active, concurrency, stopped, ended, doc FROM loops"
_LOOP_KEY = "run_id = ? AND task_key = ? AND attempt = ?"


class SqliteIterations(SqliteDb):
    """The :class:`~lambda_resolver.core.store.IterationStore` half of the SQLite store."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._con().executescript(LOOP_SCHEMA)

    def create_loop(self, loop: Loop) -> tuple[Loop, bool]:
        doc = {"inputs": list(loop.inputs), "created_at": loop.created_at}
        with self._tx() as con:
            cur = con.execute(
                "INSERT OR IGNORE INTO loops (run_id, task_key, attempt, next, active, concurrency, "
                "stopped, ended, doc) VALUES (?, ?, ?, 0, 0, ?, 0, '{}', ?)",
                (loop.run_id, loop.task_key, loop.attempt, loop.concurrency, _dumps(doc)),
            )
            if cur.rowcount == 1:
                return loop, True
            stored = self._loop(con, loop.run_id, loop.task_key, loop.attempt)
        assert stored is not None
        return stored, False

    def get_loop(self, run_id: str, task_key: str, attempt: int) -> Loop | None:
        return self._loop(self._con(), run_id, task_key, attempt)

    def _loop(self, con: sqlite3.Connection, run_id: str, task_key: str, attempt: int) -> Loop | None:
        row = con.execute(f"{_LOOP_SELECT} WHERE {_LOOP_KEY}", (run_id, task_key, attempt)).fetchone()
        if row is None:
            return None
        nxt, active, concurrency, stopped, ended, doc = row
        d = json.loads(doc)
        return Loop(
            run_id,
            task_key,
            attempt,
            tuple(d["inputs"]),
            concurrency,
            next=nxt,
            active=active,
            ended=json.loads(ended),
            stopped=bool(stopped),
            created_at=d.get("created_at", 0),
        )

    def claim_iteration(self, loop: Loop, iteration: Iteration, promise: Promise) -> Loop:
        key = (loop.run_id, loop.task_key, loop.attempt)
        with self._tx() as con:
            # the condition: this index is the next one, a slot is free, the loop goes on
            cur = con.execute(
                f"UPDATE loops SET next = next + 1, active = active + 1 WHERE {_LOOP_KEY} "
                "AND next = ? AND next < ? AND active < concurrency AND stopped = 0",
                (*key, iteration.index, loop.total),
            )
            if cur.rowcount != 1:
                current = self._loop(con, *key)
                if current is None:
                    raise NotFound(f"for_each loop {key} does not exist")
                raise StoreConflict(f"iteration {iteration.index} cannot be claimed", current)
            con.execute(
                "INSERT INTO iterations (run_id, task_key, attempt, idx, state, promise_id, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    *key,
                    iteration.index,
                    iteration.state.value,
                    iteration.promise_id,
                    _dumps(iteration.to_doc()),
                ),
            )
            _insert_promise(con, promise)
            after = self._loop(con, *key)
        assert after is not None
        return after

    def get_iteration(self, run_id: str, task_key: str, attempt: int, index: int) -> Iteration | None:
        row = (
            self._con()
            .execute(
                f"SELECT doc FROM iterations WHERE {_LOOP_KEY} AND idx = ?",
                (run_id, task_key, attempt, index),
            )
            .fetchone()
        )
        return None if row is None else Iteration.from_doc(json.loads(row[0]))

    def finish_iteration(
        self,
        loop: Loop,
        index: int,
        *,
        promise_id: str,
        changes: Mapping[str, Any],
        retry: Promise | None = None,
    ) -> Loop | None:
        key = (loop.run_id, loop.task_key, loop.attempt)
        with self._tx() as con:
            row = con.execute(
                f"SELECT doc FROM iterations WHERE {_LOOP_KEY} AND idx = ? AND state = ? AND promise_id = ?",
                (*key, index, IterationState.RUNNING.value, promise_id),
            ).fetchone()
            if row is None:
                return None  # moved on already: counted once, by whoever got here first
            doc = json.loads(row[0])
            doc.update(_plain(changes))
            if retry is not None:
                doc.update(state=IterationState.RUNNING.value, promise_id=retry.id, tries=doc["tries"] + 1)
            new = Iteration.from_doc(doc)
            con.execute(
                f"UPDATE iterations SET state = ?, promise_id = ?, doc = ? WHERE {_LOOP_KEY} AND idx = ?",
                (new.state.value, new.promise_id, _dumps(new.to_doc()), *key, index),
            )
            if retry is not None:
                _insert_promise(con, retry)
            else:
                current = self._loop(con, *key)
                assert current is not None
                ended = dict(current.ended)
                ended[new.state.value] = ended.get(new.state.value, 0) + 1
                con.execute(
                    f"UPDATE loops SET active = active - 1, ended = ? WHERE {_LOOP_KEY}",
                    (_dumps(ended), *key),
                )
            return self._loop(con, *key)

    def stop_loop(self, run_id: str, task_key: str, attempt: int) -> Loop | None:
        with self._tx() as con:
            con.execute(f"UPDATE loops SET stopped = 1 WHERE {_LOOP_KEY}", (run_id, task_key, attempt))
            return self._loop(con, run_id, task_key, attempt)

    def list_iterations(
        self, run_id: str, task_key: str, attempt: int, *, start: int = 0, limit: int = 100
    ) -> Sequence[Iteration]:
        rows = (
            self._con()
            .execute(
                f"SELECT doc FROM iterations WHERE {_LOOP_KEY} AND idx >= ? ORDER BY idx LIMIT ?",
                (run_id, task_key, attempt, start, limit),
            )
            .fetchall()
        )
        return [Iteration.from_doc(json.loads(r[0])) for r in rows]


def _insert_promise(con: sqlite3.Connection, promise: Promise) -> None:
    """A new promise row, as ``SqliteStore.create_promise`` writes it (inside the caller's
    transaction); one that exists is left as it is."""
    doc = to_doc(promise)
    con.execute(
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
