"""The default state store: one SQLite file, schema-versioned, every write a transaction.

Locks are rows taken with BEGIN IMMEDIATE, so two processes on one machine (or on a shared
filesystem with working locks) never deploy the same app to the same target at once. A row
whose process is gone (same host, pid not alive) is the dead-holder rule: it is taken over.
Every write checks, in its own transaction, that the writer's lock row still carries its
fencing token. A damaged file (empty, not SQLite, unreadable fields) is refused with one
sentence naming it, never treated as an empty history.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from portable.engine.crashpoints import crashpoint
from portable.errors import InputError, PortableError, StateError
from portable.plan.resources import Resource
from portable.state.keys import decode_key, meta_name, new_key_hex
from portable.state.locking import holder_identity, holding, joined_lock, locked_error, lost_lock_error, new_lock_id, now, wait_for_lock
from portable.state.store import EXCLUSIVE, INTERRUPTED, LockInfo, Progress, Revision, RevisionKind, RevisionStatus, history_taken, revision_row

SCHEMA_VERSION = 2
_SCHEMA_V1 = """
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
)
"""
_MIGRATIONS = {  # version reached -> statements, applied in one transaction
    2: ["ALTER TABLE locks ADD COLUMN token INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE locks ADD COLUMN persistent INTEGER NOT NULL DEFAULT 0",
        "INSERT OR IGNORE INTO meta VALUES ('fence', '0')"],
}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock(row: sqlite3.Row) -> LockInfo:
    return LockInfo(row["lock_id"], row["app"], row["target"], row["holder"], row["since"], row["operation"], int(row["token"]), bool(row["persistent"]))


class SqliteStateStore:
    """StateStore in a local SQLite database (default `.portable/state.db` beside the manifest)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self._held: dict[tuple[str, str], LockInfo] = {}
        self._prepare_file()
        self._init()

    # ---- opening, and refusing damage
    def _prepare_file(self) -> None:
        parent = self.path.parent
        for folder in [parent, *parent.parents]:
            if folder.exists() and not folder.is_dir():
                raise StateError(f"{folder} is a file, not a directory, so the state file {self.path} cannot be kept there", hint="move that file away, or pass --state PATH")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the state directory {parent}: {exc.strerror or exc}", hint="check its permissions, or pass --state PATH") from None
        if self.path.is_dir():
            raise StateError(f"the state file {self.path} is a directory", hint="pass --state with a file path")
        try:
            size = self.path.stat().st_size if self.path.exists() else None
        except OSError as exc:
            raise StateError(f"the state file {self.path} cannot be read: {exc.strerror or exc}") from None
        if size == 0:
            raise StateError(
                f"the state file {self.path} is empty (0 bytes): its history was lost (truncated?) and portable will not start a new one over it",
                hint="restore it from a backup, or delete it to start with no history",
            )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _fail(self, exc: sqlite3.Error) -> StateError:
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            return StateError(f"the state file {self.path} is read-only: {text}", hint="check the permissions of the file and its directory")
        if "unable to open" in text:
            return StateError(f"the state file {self.path} cannot be opened: {text}", hint="check the permissions of the file and its directory")
        return StateError(f"the state file {self.path} cannot be used: {text}")

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._fail(exc) from None
        finally:
            conn.close()

    def _version(self, conn: sqlite3.Connection) -> int | None:
        has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return None
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            return None
        try:
            version = int(row["value"])
        except (TypeError, ValueError):
            raise StateError(f"the state file {self.path} is damaged: its schema_version is {row['value']!r}, not a number", hint="restore it from a backup") from None
        if version > SCHEMA_VERSION:
            raise StateError(
                f"the state file {self.path} has schema version {version}, newer than this portable understands ({SCHEMA_VERSION})",
                hint=f"upgrade portable to a version that writes schema {version}",
            )
        return version

    def _init(self) -> None:
        with self._tx(write=False) as conn:  # read-only first: a read-only file still serves history
            if self._version(conn) == SCHEMA_VERSION:
                return
        with self._tx() as conn:
            version = self._version(conn)
            if version is None:
                for stmt in _SCHEMA_V1.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '1')")
                version = 1
            for target_version in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in _MIGRATIONS[target_version]:
                    conn.execute(stmt)
                conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(target_version),))

    def close(self) -> None:
        return None

    def app_key(self, app: str, proposed: bytes | None = None) -> bytes:
        """`app`'s secret-digest key, created on first use (see portable.state.keys)."""
        name = meta_name(app)
        with self._tx() as conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (name, proposed.hex() if proposed else new_key_hex()))
            row = conn.execute("SELECT value FROM meta WHERE key=?", (name,)).fetchone()
        return decode_key(row["value"], f"of {app} in {self.path}")

    # ---- locks
    def _is_stale(self, row: sqlite3.Row) -> bool:
        return not row["persistent"] and row["host"] == socket.gethostname() and not _pid_alive(int(row["pid"]))

    def _attempt(self, app: str, target: str, operation: str, persistent: bool, read_only: bool) -> tuple[LockInfo | None, LockInfo | None]:
        exclusive = app == EXCLUSIVE
        with self._tx() as conn:
            if exclusive:
                rows = conn.execute("SELECT * FROM locks ORDER BY since").fetchall()
            else:
                rows = conn.execute("SELECT * FROM locks WHERE (app=? AND target=?) OR app=? ORDER BY app=? DESC", (app, target, EXCLUSIVE, EXCLUSIVE)).fetchall()
            live = []
            for row in rows:
                if self._is_stale(row):
                    conn.execute("DELETE FROM locks WHERE lock_id=?", (row["lock_id"],))  # its holder died
                else:
                    live.append(row)
            if live:
                return None, _lock(live[0])
            token = int(conn.execute("SELECT value FROM meta WHERE key='fence'").fetchone()["value"]) + 1
            conn.execute("UPDATE meta SET value=? WHERE key='fence'", (str(token),))
            info = LockInfo(new_lock_id(), app, target, holder_identity(), now(), operation, token, persistent)
            conn.execute(
                "INSERT INTO locks (app, target, lock_id, holder, pid, host, operation, since, token, persistent) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (app, target, info.lock_id, info.holder, os.getpid(), socket.gethostname(), operation, info.since, token, int(persistent)),
            )
            if not exclusive and not read_only:
                conn.execute("UPDATE revisions SET status='failed', finished_at=?, message=? WHERE app=? AND target=? AND status='applying'", (now(), INTERRUPTED, app, target))
            return info, None

    def _joined(self, app: str, target: str) -> LockInfo | None:
        def find(lock_id: str) -> LockInfo | None:
            with self._tx(write=False) as conn:
                row = conn.execute("SELECT * FROM locks WHERE lock_id=?", (lock_id,)).fetchone()
            return _lock(row) if row is not None else None

        return joined_lock(app, target, find)

    def lock(self, app: str, target: str, operation: str, *, wait: float = 30.0, progress: Progress | None = None, read_only: bool = False) -> AbstractContextManager[LockInfo]:
        return holding(self._held, app, target, lambda: self._joined(app, target), lambda: self._attempt(app, target, operation, False, read_only), wait, progress,
                       self._release)

    def _release(self, info: LockInfo) -> None:
        try:
            with self._tx() as conn:
                conn.execute("DELETE FROM locks WHERE lock_id=?", (info.lock_id,))
        except PortableError:
            pass  # the store failed: the error that brought us here is the one to show

    def hold(self, app: str, target: str, operation: str, *, wait: float = 30.0, progress: Progress | None = None) -> LockInfo:
        subject = "the whole state store" if app == EXCLUSIVE else f"{app} on target {target}"
        return wait_for_lock(subject, lambda: self._attempt(app, target, operation, True, True), wait, progress)

    def unlock(self, lock_id: str) -> LockInfo:
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM locks WHERE lock_id=?", (lock_id,)).fetchone()
            if row is None:
                raise InputError(f"no lock with id {lock_id}", hint="portable state list shows the held locks")
            conn.execute("DELETE FROM locks WHERE lock_id=?", (lock_id,))
        return _lock(row)

    def locks(self) -> list[LockInfo]:
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT * FROM locks ORDER BY since").fetchall()
        return [_lock(r) for r in rows]

    def _check_fence(self, conn: sqlite3.Connection, app: str, target: str) -> None:
        """Refuses the write unless the writer's lock is still the one the store holds."""
        rows = conn.execute("SELECT * FROM locks WHERE (app=? AND target=?) OR app=?", (app, target, EXCLUSIVE)).fetchall()
        held = self._held.get((app, target))
        if held is not None:
            if not any(r["lock_id"] == held.lock_id and int(r["token"]) == held.token for r in rows):
                raise lost_lock_error(str(self.path), held, _lock(rows[0]) if rows else None)
            return
        live = [r for r in rows if not self._is_stale(r)]
        if live:
            raise locked_error(_lock(live[0]))

    # ---- revisions
    def begin(self, app: str, target: str, kind: RevisionKind, manifest_digest: str, resources: list[Resource], message: str = "") -> Revision:
        crashpoint("state.before-begin")
        payload = json.dumps([r.to_dict() for r in resources], sort_keys=True)
        with self._tx() as conn:
            self._check_fence(conn, app, target)
            row = conn.execute("SELECT COALESCE(MAX(number), 0) AS n FROM revisions WHERE app=? AND target=?", (app, target)).fetchone()
            number = int(row["n"]) + 1
            created = now()
            conn.execute(
                "INSERT INTO revisions VALUES (?,?,?,?,?,?,?,?,?,?)",
                (app, target, number, kind, "applying", created, None, manifest_digest, payload, message),
            )
        crashpoint("state.after-begin")
        return Revision(app, target, number, kind, "applying", created, None, manifest_digest, list(resources), message)

    def finish(self, revision: Revision, status: RevisionStatus, message: str = "") -> Revision:
        crashpoint("state.before-finish")
        finished = now()
        text = message or revision.message
        with self._tx() as conn:
            self._check_fence(conn, revision.app, revision.target)
            conn.execute(
                "UPDATE revisions SET status=?, finished_at=?, message=? WHERE app=? AND target=? AND number=?",
                (status, finished, text, revision.app, revision.target, revision.number),
            )
        crashpoint("state.after-finish")
        return Revision(revision.app, revision.target, revision.number, revision.kind, status, revision.created_at, finished, revision.manifest_digest, revision.resources, text)

    def import_history(self, app: str, target: str, revisions: list[Revision]) -> None:
        with self._tx() as conn:
            self._check_fence(conn, app, target)
            if conn.execute("SELECT 1 FROM revisions WHERE app=? AND target=? LIMIT 1", (app, target)).fetchone():
                raise history_taken(str(self.path), app, target)
            for r in revisions:
                conn.execute("INSERT INTO revisions VALUES (?,?,?,?,?,?,?,?,?,?)", revision_row(app, target, r))

    def _row(self, row: sqlite3.Row) -> Revision:
        try:
            data: Any = json.loads(row["resources"])
            resources = [Resource.from_dict(d) for d in data]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StateError(
                f"the state file {self.path} is damaged: revision {row['number']} of {row['app']} on target {row['target']} has resources that are not valid JSON ({type(exc).__name__}: {exc})",
                hint="restore the file from a backup",
            ) from None
        return Revision(row["app"], row["target"], row["number"], row["kind"], row["status"], row["created_at"], row["finished_at"], row["manifest_digest"], resources, row["message"])

    def history(self, app: str, target: str) -> list[Revision]:
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT * FROM revisions WHERE app=? AND target=? ORDER BY number", (app, target)).fetchall()
        return [self._row(r) for r in rows]

    def current(self, app: str, target: str) -> Revision | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                "SELECT * FROM revisions WHERE app=? AND target=? AND status IN ('deployed','destroyed') ORDER BY number DESC LIMIT 1",
                (app, target),
            ).fetchone()
        return self._row(row) if row else None

    def latest(self, app: str, target: str) -> Revision | None:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT * FROM revisions WHERE app=? AND target=? ORDER BY number DESC LIMIT 1", (app, target)).fetchone()
        return self._row(row) if row else None

    def get(self, app: str, target: str, number: int) -> Revision:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT * FROM revisions WHERE app=? AND target=? AND number=?", (app, target, number)).fetchone()
        if row is None:
            raise InputError(f"{app} has no revision {number} on target {target}", hint=f"portable history --target {target}")
        return self._row(row)

    def deployments(self) -> Iterator[Revision]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                "SELECT r.* FROM revisions r JOIN (SELECT app, target, MAX(number) AS n FROM revisions GROUP BY app, target) m "
                "ON r.app=m.app AND r.target=m.target AND r.number=m.n ORDER BY r.app, r.target"
            ).fetchall()
        for r in rows:
            yield self._row(r)
