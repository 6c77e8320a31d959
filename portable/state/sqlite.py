"""The default state store: one SQLite file, schema-versioned, every write a transaction.

Locks are rows taken with BEGIN IMMEDIATE, so two processes on one machine (or on a shared
filesystem with working locks) never deploy the same app to the same target at once.
"""
from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from portable.errors import InputError, StateError, StateLockedError
from portable.plan.resources import Resource
from portable.state.store import LockInfo, Revision, RevisionKind, RevisionStatus

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revisions (
    app TEXT NOT NULL, target TEXT NOT NULL, number INTEGER NOT NULL,
    kind TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, finished_at TEXT,
    manifest_digest TEXT NOT NULL, resources TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (app, target, number)
);
CREATE TABLE IF NOT EXISTS locks (
    app TEXT NOT NULL, target TEXT NOT NULL, lock_id TEXT NOT NULL UNIQUE,
    holder TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
    operation TEXT NOT NULL, since TEXT NOT NULL,
    PRIMARY KEY (app, target)
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SqliteStateStore:
    """StateStore in a local SQLite database (default `.portable/state.db` beside the manifest)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _init(self) -> None:
        try:
            with self._tx() as conn:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif int(row["value"]) > SCHEMA_VERSION:
                    raise StateError(
                        f"state file {self.path} has schema version {row['value']}, newer than this portable understands ({SCHEMA_VERSION})",
                        hint="upgrade portable",
                    )
        except sqlite3.DatabaseError as exc:
            raise StateError(f"state file {self.path} cannot be used: {exc}") from None

    # ---- locks
    @contextmanager
    def lock(self, app: str, target: str, operation: str, *, wait: float = 30.0) -> Iterator[LockInfo]:
        info = self._acquire(app, target, operation, wait)
        try:
            yield info
        finally:
            with self._tx() as conn:
                conn.execute("DELETE FROM locks WHERE lock_id=?", (info.lock_id,))

    def _acquire(self, app: str, target: str, operation: str, wait: float) -> LockInfo:
        deadline = time.monotonic() + wait
        host = socket.gethostname()
        holder = f"{getpass.getuser()}@{host} (pid {os.getpid()})"
        while True:
            with self._tx() as conn:
                row = conn.execute("SELECT * FROM locks WHERE app=? AND target=?", (app, target)).fetchone()
                if row is not None and row["host"] == host and not _pid_alive(row["pid"]):
                    conn.execute("DELETE FROM locks WHERE lock_id=?", (row["lock_id"],))  # its holder died
                    row = None
                if row is None:
                    info = LockInfo(uuid.uuid4().hex[:12], app, target, holder, _now(), operation)
                    conn.execute(
                        "INSERT INTO locks VALUES (?,?,?,?,?,?,?,?)",
                        (app, target, info.lock_id, holder, os.getpid(), host, operation, info.since),
                    )
                    return info
            if time.monotonic() >= deadline:
                raise StateLockedError(
                    f"{app} on target {target} is locked by {row['holder']} since {row['since']} ({row['operation']}, lock {row['lock_id']})",
                    lock_id=row["lock_id"],
                    holder=row["holder"],
                    since=row["since"],
                )
            time.sleep(0.25)

    def unlock(self, lock_id: str) -> LockInfo:
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM locks WHERE lock_id=?", (lock_id,)).fetchone()
            if row is None:
                raise InputError(f"no lock with id {lock_id}", hint="portable state list shows the held locks")
            conn.execute("DELETE FROM locks WHERE lock_id=?", (lock_id,))
        return LockInfo(row["lock_id"], row["app"], row["target"], row["holder"], row["since"], row["operation"])

    def locks(self) -> list[LockInfo]:
        with self._tx() as conn:
            rows = conn.execute("SELECT * FROM locks ORDER BY since").fetchall()
        return [LockInfo(r["lock_id"], r["app"], r["target"], r["holder"], r["since"], r["operation"]) for r in rows]

    # ---- revisions
    def begin(self, app: str, target: str, kind: RevisionKind, manifest_digest: str, resources: list[Resource], message: str = "") -> Revision:
        payload = json.dumps([r.to_dict() for r in resources], sort_keys=True)
        with self._tx() as conn:
            row = conn.execute("SELECT COALESCE(MAX(number), 0) AS n FROM revisions WHERE app=? AND target=?", (app, target)).fetchone()
            number = int(row["n"]) + 1
            created = _now()
            conn.execute(
                "INSERT INTO revisions VALUES (?,?,?,?,?,?,?,?,?,?)",
                (app, target, number, kind, "applying", created, None, manifest_digest, payload, message),
            )
        return Revision(app, target, number, kind, "applying", created, None, manifest_digest, list(resources), message)

    def finish(self, revision: Revision, status: RevisionStatus, message: str = "") -> Revision:
        finished = _now()
        text = message or revision.message
        with self._tx() as conn:
            conn.execute(
                "UPDATE revisions SET status=?, finished_at=?, message=? WHERE app=? AND target=? AND number=?",
                (status, finished, text, revision.app, revision.target, revision.number),
            )
        return Revision(revision.app, revision.target, revision.number, revision.kind, status, revision.created_at, finished, revision.manifest_digest, revision.resources, text)

    @staticmethod
    def _row(row: sqlite3.Row) -> Revision:
        return Revision(
            row["app"], row["target"], row["number"], row["kind"], row["status"], row["created_at"],
            row["finished_at"], row["manifest_digest"],
            [Resource.from_dict(d) for d in json.loads(row["resources"])], row["message"],
        )

    def history(self, app: str, target: str) -> list[Revision]:
        with self._tx() as conn:
            rows = conn.execute("SELECT * FROM revisions WHERE app=? AND target=? ORDER BY number", (app, target)).fetchall()
        return [self._row(r) for r in rows]

    def current(self, app: str, target: str) -> Revision | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT * FROM revisions WHERE app=? AND target=? AND status IN ('deployed','destroyed') ORDER BY number DESC LIMIT 1",
                (app, target),
            ).fetchone()
        return self._row(row) if row else None

    def get(self, app: str, target: str, number: int) -> Revision:
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM revisions WHERE app=? AND target=? AND number=?", (app, target, number)).fetchone()
        if row is None:
            raise InputError(f"{app} has no revision {number} on target {target}", hint=f"portable history --target {target}")
        return self._row(row)

    def deployments(self) -> Iterator[Revision]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT r.* FROM revisions r JOIN (SELECT app, target, MAX(number) AS n FROM revisions GROUP BY app, target) m "
                "ON r.app=m.app AND r.target=m.target AND r.number=m.n ORDER BY r.app, r.target"
            ).fetchall()
        for r in rows:
            yield self._row(r)
