"""The local workspace's state file: registered jobs, id counters and runs in one SQLite file.

``lakehook dev`` runs the resolver and the local workspace in one process; when that process
dies (Ctrl-C, a kill, a crash) and starts again, the resolver's reconciler re-sends the run-now
of a stuck claim with the same idempotency token — so the workspace must still know every token
it answered, and the run it started for it. :class:`WorkspaceState` keeps that: WAL, one
``BEGIN IMMEDIATE`` transaction per change, ``synchronous=FULL`` (a change is on disk before the
workspace answers the request that made it). What an executor reports — a run started running,
a run ended — answers no request, so it is written at once but synced with the next synced change
(``save_run(..., durable=False)``): the WAL keeps it through a killed process like everything
else, and only an OS crash can lose the last reports, whose runs the next start then resumes as
it resumes any active run. That saves two fsyncs per run (~4 ms each on a virtual disk).

Tables: ``jobs`` (job id, bundle key, name, settings), ``counters`` (the next job id and run
id), ``runs`` (run id, job id, idempotency token — unique —, life cycle state and the whole run
as a JSON document: parameters, the job settings it ran with, tasks with their task-run ids,
results, messages, notebook outputs, timestamps) and ``task_runs`` (task-run id → run id).

After :meth:`WorkspaceState.close` the file is frozen, as if the process had died: updates of
runs still active are dropped (the next start re-drives those runs), while a new run or a job
registration — things the workspace would promise to a caller — raise :class:`StateClosedError`.
One connection, guarded by a lock: the workspace serializes its changes anyway, and there are
only a few per run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("lakehook.local")

SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, next INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jobs (job_id INTEGER PRIMARY KEY, key TEXT, name TEXT NOT NULL, "
    "settings TEXT NOT NULL, created_time INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS jobs_key ON jobs(key) WHERE key IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS runs (run_id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, "
    "token TEXT UNIQUE, life TEXT NOT NULL, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS task_runs (task_run_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL)",
)
_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")
JOB_IDS, RUN_IDS = "job_id", "run_id"  # counter names


class StateClosedError(RuntimeError):
    """The workspace's state file was closed: nothing new can be recorded."""


@dataclass(frozen=True)
class JobRow:
    """A registered job as stored."""

    job_id: int
    key: str | None
    settings: dict[str, Any]
    created_time: int


def _dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


class WorkspaceState:
    """The SQLite file behind a persistent :class:`~lambda_resolver.local.LocalWorkspace`."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, not {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous.upper()
        self._lock = threading.Lock()
        con = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(f"PRAGMA synchronous={synchronous.upper()}")
            con.execute("PRAGMA busy_timeout=30000")
            self._con: sqlite3.Connection | None = con
            self._migrate()
        except BaseException:
            con.close()
            raise

    def __repr__(self) -> str:
        return f"WorkspaceState({str(self.path)!r})"

    @property
    def closed(self) -> bool:
        return self._con is None

    def close(self) -> None:
        """Freeze the file: later run updates are dropped, new runs and jobs refused."""
        with self._lock:
            con, self._con = self._con, None
            if con is not None:
                con.close()

    def _migrate(self) -> None:
        with self._tx() as tx:
            version = int(tx.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise ValueError(
                    f"{self.path} was written by a newer lakehook (schema {version} > {SCHEMA_VERSION})"
                )
            for statement in _SCHEMA:
                tx.execute(statement)
            tx.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- reading (at start) ----------------------------------------------------------------------
    def jobs(self) -> list[JobRow]:
        with self._read() as con:
            rows = con.execute("SELECT job_id, key, settings, created_time FROM jobs ORDER BY job_id")
            return [JobRow(int(i), k, json.loads(s), int(c)) for i, k, s, c in rows.fetchall()]

    def runs(self) -> list[dict[str, Any]]:
        """Every run's document, oldest first."""
        with self._read() as con:
            rows = con.execute("SELECT doc FROM runs ORDER BY run_id").fetchall()
        return [json.loads(doc) for (doc,) in rows]

    def counter(self, name: str) -> int | None:
        """The next id the previous process would have handed out, if it recorded one."""
        with self._read() as con:
            row = con.execute("SELECT next FROM counters WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    # -- writing (one transaction per change) ------------------------------------------------------
    def save_job(
        self,
        job_id: int,
        *,
        key: str | None,
        name: str,
        settings: Mapping[str, Any],
        created_time: int,
        next_job_id: int,
    ) -> None:
        """Insert or update a job, and move the job id counter on."""
        with self._tx() as con:
            con.execute(
                "INSERT INTO jobs (job_id, key, name, settings, created_time) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET key = excluded.key, name = excluded.name, "
                "settings = excluded.settings, created_time = excluded.created_time",
                (job_id, key, name, _dumps(settings), created_time),
            )
            self._advance(con, JOB_IDS, next_job_id)

    def delete_job(self, job_id: int) -> None:
        """Forget a job (its runs stay, as Databricks keeps a deleted job's runs)."""
        with self._tx() as con:
            con.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    def add_run(self, doc: Mapping[str, Any], next_run_id: int) -> None:
        """Record a new run (its token unique), its task runs, and move the run id counter on."""
        with self._tx() as con:
            con.execute(
                "INSERT INTO runs (run_id, job_id, token, life, doc) VALUES (?, ?, ?, ?, ?)",
                (doc["run_id"], doc["job_id"], doc.get("idempotency_token"), doc["life"], _dumps(doc)),
            )
            con.executemany(
                "INSERT INTO task_runs (task_run_id, run_id) VALUES (?, ?)",
                [(t["run_id"], doc["run_id"]) for t in doc["tasks"]],
            )
            self._advance(con, RUN_IDS, next_run_id)

    def save_run(self, doc: Mapping[str, Any], *, durable: bool = True) -> bool:
        """Update a run's document; False (dropped) once the file is closed. ``durable=False``:
        committed without waiting for the disk (synced by the next durable change; see the
        module docstring) — for what executors report, which answers no request."""
        try:
            with self._tx(durable=durable) as con:
                cur = con.execute(
                    "UPDATE runs SET life = ?, doc = ? WHERE run_id = ?",
                    (doc["life"], _dumps(doc), doc["run_id"]),
                )
                if cur.rowcount != 1:
                    raise KeyError(f"run {doc['run_id']} is not in {self.path}")
        except StateClosedError:
            log.debug(
                "local workspace state closed: run %s is now %s, not recorded", doc["run_id"], doc["life"]
            )
            return False
        return True

    # -- plumbing ---------------------------------------------------------------------------------
    @staticmethod
    def _advance(con: sqlite3.Connection, name: str, next_id: int) -> None:
        con.execute(
            "INSERT INTO counters (name, next) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET next = MAX(next, excluded.next)",
            (name, next_id),
        )

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._con is None:
                raise StateClosedError(f"{self.path} is closed")
            yield self._con

    @contextmanager
    def _tx(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        with self._lock:
            con = self._con
            if con is None:
                raise StateClosedError(f"{self.path} is closed")
            # In WAL mode a NORMAL commit is not fsynced; the next FULL commit syncs the WAL, that
            # commit included, so what is on disk is always a prefix of what was written.
            lazy = not durable and self._synchronous != "NORMAL"
            if lazy:
                con.execute("PRAGMA synchronous=NORMAL")
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    if con.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            con.execute("ROLLBACK")
                    raise
            finally:
                if lazy:
                    with contextlib.suppress(sqlite3.Error):
                        con.execute(f"PRAGMA synchronous={self._synchronous}")


__all__ = ["JobRow", "StateClosedError", "WorkspaceState"]
