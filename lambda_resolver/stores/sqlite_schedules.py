"""Schedule records in SQLite: one row per flow, its fire time in the reconciler's due index.

``due_at`` is the record's next fire time while it is active (NULL otherwise), indexed like the
other tables' ``due_at``, so the reconciler's due query finds the schedules due and no others.
A write is one ``INSERT`` (none stored yet) or one ``UPDATE ... WHERE ver = ?``.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lambda_resolver.core.errors import StoreConflict
from lambda_resolver.core.schedule.machine import ScheduleRecord
from lambda_resolver.stores.sqlite_db import SqliteDb

SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    flow TEXT PRIMARY KEY, ver INTEGER NOT NULL, due_at INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules(due_at) WHERE due_at IS NOT NULL;
"""

#: The due index's share of the schedules, for the store's UNION ALL of due records.
DUE_SELECT = "SELECT 'schedule', due_at, flow, NULL FROM schedules WHERE due_at <= ?"


class SqliteSchedules(SqliteDb):
    """The schedule methods of :class:`~lambda_resolver.stores.sqlite.SqliteStore`, and their table."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        super().__init__(path, synchronous=synchronous)
        self._con().executescript(SCHEMA)

    def get_schedule(self, flow: str) -> ScheduleRecord | None:
        return _schedule(self._con(), flow)

    def list_schedules(self) -> list[ScheduleRecord]:
        rows = self._con().execute("SELECT doc, ver FROM schedules ORDER BY flow").fetchall()
        return [_record(row) for row in rows]

    def put_schedule(self, record: ScheduleRecord, *, expect_ver: int) -> ScheduleRecord:
        stored = dataclasses.replace(record, ver=expect_ver + 1)
        doc = json.dumps(stored.to_doc(), separators=(",", ":"))
        with self._tx() as con:
            if expect_ver == 0:
                cur = con.execute(
                    "INSERT OR IGNORE INTO schedules (flow, ver, due_at, doc) VALUES (?, 1, ?, ?)",
                    (record.flow, stored.due_at, doc),
                )
            else:
                cur = con.execute(
                    "UPDATE schedules SET ver = ver + 1, due_at = ?, doc = ? WHERE flow = ? AND ver = ?",
                    (stored.due_at, doc, record.flow, expect_ver),
                )
            if cur.rowcount != 1:
                current = _schedule(con, record.flow)
                raise StoreConflict(f"the schedule of flow '{record.flow}' changed meanwhile", current)
        return stored


def _schedule(con: sqlite3.Connection, flow: str) -> ScheduleRecord | None:
    row = con.execute("SELECT doc, ver FROM schedules WHERE flow = ?", (flow,)).fetchone()
    return None if row is None else _record(row)


def _record(row: tuple[Any, ...] | Iterator[Any]) -> ScheduleRecord:
    doc, ver = tuple(row)
    return ScheduleRecord.from_doc({**json.loads(doc), "ver": ver})
