"""The team state store on PostgreSQL: one schema, versioned, migrations in a transaction.

Locks are session-level advisory locks keyed by (app, target), the way terraform's pg
backend does it: a crashed client's lock disappears with its connection, and no global
lock is taken to create a new pair. Every acquirer also holds a *shared* advisory lock on
one store-wide key, which an exclusive (repair) lock takes exclusively, so a repair waits
for running operations and none starts under it. The holder, operation and start of each
lock are rows in `locks`, so `state list` and the "locked by" message work across machines;
each row carries a fencing token from a sequence, checked by every write.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from portable.engine.crashpoints import crashpoint
from portable.errors import InputError, MissingExtraError, PortableError, StateError
from portable.plan.resources import Resource
from portable.state.keys import decode_key, meta_name, new_key_hex
from portable.state.locking import holder_identity, holding, joined_lock, locked_error, lost_lock_error, new_lock_id, now, wait_for_lock
from portable.state.store import EXCLUSIVE, INTERRUPTED, LockInfo, Progress, Revision, RevisionKind, RevisionStatus, history_taken, revision_row

SCHEMA_VERSION = 1
T = TypeVar("T")
_IDENT_OK = set("abcdefghijklmnopqrstuvwxyz0123456789_")
_INIT_KEY = 0x706F727461626C65  # "portable": serialises schema creation between processes starting at once
_SCHEMA_V1 = [
    "CREATE TABLE IF NOT EXISTS {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS {s}.revisions (
        app TEXT NOT NULL, target TEXT NOT NULL, number INTEGER NOT NULL,
        kind TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT,
        manifest_digest TEXT NOT NULL, resources JSONB NOT NULL, message TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (app, target, number))""",
    """CREATE TABLE IF NOT EXISTS {s}.locks (
        app TEXT NOT NULL, target TEXT NOT NULL, lock_id TEXT NOT NULL UNIQUE,
        holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, backend_pid INTEGER,
        operation TEXT NOT NULL, since TEXT NOT NULL, token BIGINT NOT NULL, persistent BOOLEAN NOT NULL,
        PRIMARY KEY (app, target))""",
    "CREATE SEQUENCE IF NOT EXISTS {s}.fence",
]
_MIGRATIONS: dict[int, list[str]] = {}  # version reached -> statements (none yet beyond 1)


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}:***@{netloc[1]}", parts.path, parts.query, parts.fragment))


def _advisory_key(schema: str, app: str, target: str) -> int:
    """A 64-bit advisory lock key; advisory keys are per database, so the schema is part of it."""
    digest = hashlib.sha256(f"{schema}\x1f{app}\x1f{target}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresStateStore:
    """StateStore in a PostgreSQL schema: `postgresql://user@host:port/db?schema=portable`."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        try:
            import psycopg
        except ImportError:
            raise MissingExtraError("the PostgreSQL state store needs psycopg", hint="pip install 'portable[postgres]'") from None
        self._psycopg = psycopg
        self.url = redact(url)
        parts = urlsplit(url)
        try:
            _ = parts.port  # urlsplit checks the port only when asked
        except ValueError:
            raise InputError(f"state URL {self.url}: the port is not a number") from None
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.schema = query.pop("schema", "portable") or "portable"
        if not set(self.schema) <= _IDENT_OK or self.schema[0].isdigit():
            raise InputError(f"state URL {self.url}: schema {self.schema!r} must be lower-case letters, digits and _")
        query.setdefault("connect_timeout", str(int(connect_timeout)))
        query.setdefault("application_name", "portable")
        self._conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
        self._held: dict[tuple[str, str], LockInfo] = {}
        self._store_key = _advisory_key(self.schema, EXCLUSIVE, EXCLUSIVE)  # shared by every operation, exclusive for repairs
        self._keys: dict[str, list[tuple[str, int]]] = {}  # lock id -> advisory keys its session holds
        self._conn: Any = None
        self._connect()
        self._init()

    # ---- connection and errors
    def _connect(self) -> None:
        psycopg = self._psycopg
        try:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.ProgrammingError as exc:  # invalid option or malformed URL
            raise InputError(f"state URL {self.url} is not a valid PostgreSQL URL: {str(exc).strip().splitlines()[0]}") from None
        except psycopg.OperationalError as exc:
            raise self._connect_error(exc) from None

    def _connect_error(self, exc: Exception) -> PortableError:
        text = " ".join(str(exc).split())
        low = text.lower()
        if "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
            return InputError(f"PostgreSQL refused the user or password for {self.url}", hint="set PGPASSWORD or ~/.pgpass, or fix the user in the URL")
        if "does not exist" in low and "database" in low:
            return InputError(f"the database of {self.url} does not exist", hint="create it (createdb) or fix the URL")
        if "invalid" in low and ("option" in low or "uri" in low or "integer" in low):
            return InputError(f"state URL {self.url} is not a valid PostgreSQL URL: {text}")
        reason = text.split("failed:")[-1].strip() if "failed:" in text else text
        return StateError(f"the state store {self.url} is unreachable: {reason}", hint="check that PostgreSQL is up and reachable from here")

    def _error(self, exc: Exception) -> PortableError:
        psycopg = self._psycopg
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return InputError(f"the state store {self.url} refused access: {str(exc).splitlines()[0]}", hint="grant the user rights on the schema, or choose another ?schema=")
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            first = (str(exc).strip().splitlines() or ["connection lost"])[0]
            return StateError(f"the state store {self.url} became unreachable ({first}): the outcome was not recorded", hint="run the same command again once it is back")
        return StateError(f"the state store {self.url} failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A transaction on the store's one connection (its advisory locks live on its session)."""
        psycopg = self._psycopg
        if self._conn is None or self._conn.closed:
            self._connect()  # after a lost connection: reads need no lock, writes re-check theirs
        try:
            with self._conn.transaction():
                with self._conn.cursor() as cur:
                    yield cur
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def _q(self, sql: str) -> str:
        return sql.replace("{s}", self.schema)

    def _init(self) -> None:
        psycopg = self._psycopg
        try:
            with self._tx() as cur:
                cur.execute(self._q("SELECT value FROM {s}.meta WHERE key='schema_version'"))
                row = cur.fetchone()
            if row is not None and self._check_version(row[0]) == SCHEMA_VERSION:
                return
        except StateError as exc:
            if not isinstance(exc.__context__, psycopg.errors.UndefinedTable) and "does not exist" not in str(exc):
                raise
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_INIT_KEY,))
            cur.execute(self._q("CREATE SCHEMA IF NOT EXISTS {s}"))
            for stmt in _SCHEMA_V1:
                cur.execute(self._q(stmt))
            cur.execute(self._q("SELECT value FROM {s}.meta WHERE key='schema_version'"))
            row = cur.fetchone()
            version = 1 if row is None else self._check_version(row[0])
            for target_version in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in _MIGRATIONS[target_version]:
                    cur.execute(self._q(stmt))
            cur.execute(self._q("INSERT INTO {s}.meta VALUES ('schema_version', %s) ON CONFLICT (key) DO UPDATE SET value=EXCLUDED.value"), (str(max(version, SCHEMA_VERSION)),))

    def _check_version(self, value: str) -> int:
        try:
            version = int(value)
        except ValueError:
            raise StateError(f"the state store {self.url} is damaged: its schema_version is {value!r}, not a number") from None
        if version > SCHEMA_VERSION:
            raise StateError(
                f"the state store {self.url} (schema {self.schema}) has schema version {version}, newer than this portable understands ({SCHEMA_VERSION})",
                hint=f"upgrade portable to a version that writes schema {version}",
            )
        return version

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except self._psycopg.Error:
                pass
            self._conn = None

    def app_key(self, app: str, proposed: bytes | None = None) -> bytes:
        """`app`'s secret-digest key, created on first use (see portable.state.keys)."""
        name = meta_name(app)
        with self._tx() as cur:
            cur.execute(self._q("INSERT INTO {s}.meta VALUES (%s, %s) ON CONFLICT (key) DO NOTHING"), (name, proposed.hex() if proposed else new_key_hex()))
            cur.execute(self._q("SELECT value FROM {s}.meta WHERE key=%s"), (name,))
            row = cur.fetchone()
        return decode_key(row[0] if row else "", f"of {app} in {self.url}")

    # ---- locks
    @staticmethod
    def _lock(row: Any) -> LockInfo:
        app, target, lock_id, holder, _host, _pid, _backend, operation, since, token, persistent = row
        return LockInfo(lock_id, app, target, holder, since, operation, int(token), bool(persistent))

    def _advisory(self, fn: str, key: int) -> bool:
        with self._tx() as cur:
            cur.execute(f"SELECT {fn}(%s)", (key,))
            row = cur.fetchone()
        return bool(row[0]) if row else False

    def _attempt(self, app: str, target: str, operation: str, persistent: bool, read_only: bool) -> tuple[LockInfo | None, LockInfo | None]:
        exclusive = app == EXCLUSIVE
        mine = next(iter(self._held.values()), None) if exclusive else self._held.get((app, target))
        if mine is not None:  # advisory locks are re-entrant within a session: never take a pair twice
            return None, mine
        if exclusive:
            if not self._advisory("pg_try_advisory_lock", self._store_key):
                with self._tx() as cur:  # name a holder that is alive, not a row a dead one left
                    cur.execute(self._q("SELECT * FROM {s}.locks WHERE persistent OR backend_pid IN (SELECT pid FROM pg_stat_activity) ORDER BY since LIMIT 1"))
                    row = cur.fetchone()
                return None, self._lock(row) if row else LockInfo("?", EXCLUSIVE, EXCLUSIVE, "an operation starting now", now())
            held_keys = [("pg_advisory_unlock", self._store_key)]
        else:
            if not self._advisory("pg_try_advisory_lock_shared", self._store_key):
                return None, self._holder_of(app, target)
            held_keys = [("pg_advisory_unlock_shared", self._store_key)]
            if not self._advisory("pg_try_advisory_lock", _advisory_key(self.schema, app, target)):
                self._release_keys(held_keys)
                return None, self._holder_of(app, target)
            held_keys.append(("pg_advisory_unlock", _advisory_key(self.schema, app, target)))
        try:
            with self._tx() as cur:
                if exclusive:
                    cur.execute(self._q("SELECT * FROM {s}.locks ORDER BY since FOR UPDATE"))
                else:
                    cur.execute(self._q("SELECT * FROM {s}.locks WHERE (app=%s AND target=%s) OR app=%s ORDER BY (app=%s) DESC FOR UPDATE"), (app, target, EXCLUSIVE, EXCLUSIVE))
                rows = cur.fetchall()
                # Without a persistent flag a row is its session's: we hold the advisory key, so that session is gone.
                live = [r for r in rows if self._lock(r).persistent]
                if live:
                    self._release_keys(held_keys, cur)
                    return None, self._lock(live[0])
                for r in rows:
                    cur.execute(self._q("DELETE FROM {s}.locks WHERE lock_id=%s"), (r[2],))
                cur.execute(self._q("SELECT nextval('{s}.fence')"))
                token = int(cur.fetchone()[0])
                info = LockInfo(new_lock_id(), app, target, holder_identity(), now(), operation, token, persistent)
                cur.execute(
                    self._q("INSERT INTO {s}.locks VALUES (%s,%s,%s,%s,%s,%s,pg_backend_pid(),%s,%s,%s,%s)"),
                    (app, target, info.lock_id, info.holder, socket.gethostname(), os.getpid(), operation, info.since, token, persistent),
                )
                if not exclusive and not read_only:
                    cur.execute(self._q("UPDATE {s}.revisions SET status='failed', finished_at=%s, message=%s WHERE app=%s AND target=%s AND status='applying'"), (now(), INTERRUPTED, app, target))
        except BaseException:
            self._release_keys(held_keys)
            raise
        if persistent:  # kept by its row alone, not by this session
            self._release_keys(held_keys)
        else:
            self._keys[info.lock_id] = held_keys
        return info, None

    @staticmethod
    def _backend_alive(cur: Any, backend_pid: int) -> bool:
        cur.execute("SELECT 1 FROM pg_stat_activity WHERE pid=%s", (backend_pid,))
        return cur.fetchone() is not None

    def _release_keys(self, keys: list[tuple[str, int]], cur: Any = None) -> None:
        if cur is not None:
            for fn, key in reversed(keys):
                cur.execute(f"SELECT {fn}(%s)", (key,))
            return
        try:
            with self._tx() as c:
                for fn, key in reversed(keys):
                    c.execute(f"SELECT {fn}(%s)", (key,))
        except PortableError:
            pass  # connection gone: the server released them with the session

    def _holder_of(self, app: str, target: str) -> LockInfo:
        with self._tx() as cur:
            cur.execute(self._q("SELECT * FROM {s}.locks WHERE (app=%s AND target=%s) OR app=%s ORDER BY (app=%s) DESC LIMIT 1"), (app, target, EXCLUSIVE, EXCLUSIVE))
            row = cur.fetchone()
        # the advisory key is taken but its row not yet written: a holder is starting right now
        return self._lock(row) if row else LockInfo("(starting)", app, target, "another process that is just starting", now())

    def _joined(self, app: str, target: str) -> LockInfo | None:
        def find(lock_id: str) -> LockInfo | None:
            with self._tx() as cur:
                cur.execute(self._q("SELECT * FROM {s}.locks WHERE lock_id=%s"), (lock_id,))
                row = cur.fetchone()
            return self._lock(row) if row is not None else None

        return joined_lock(app, target, find)

    def lock(self, app: str, target: str, operation: str, *, wait: float = 30.0, progress: Progress | None = None, read_only: bool = False) -> AbstractContextManager[LockInfo]:
        return holding(self._held, app, target, lambda: self._joined(app, target), lambda: self._attempt(app, target, operation, False, read_only), wait, progress,
                       self._release)

    def _release(self, info: LockInfo) -> None:
        try:
            with self._tx() as cur:
                cur.execute(self._q("DELETE FROM {s}.locks WHERE lock_id=%s"), (info.lock_id,))
        except PortableError:
            pass  # the store failed: the error that brought us here is the one to show
        self._release_keys(self._keys.pop(info.lock_id, []))

    def hold(self, app: str, target: str, operation: str, *, wait: float = 30.0, progress: Progress | None = None) -> LockInfo:
        subject = "the whole state store" if app == EXCLUSIVE else f"{app} on target {target}"
        return wait_for_lock(subject, lambda: self._attempt(app, target, operation, True, True), wait, progress)

    def unlock(self, lock_id: str) -> LockInfo:
        with self._tx() as cur:
            cur.execute(self._q("DELETE FROM {s}.locks WHERE lock_id=%s RETURNING *"), (lock_id,))
            row = cur.fetchone()
        if row is None:
            raise InputError(f"no lock with id {lock_id}", hint="portable state list shows the held locks")
        backend = row[6]
        if backend is not None and not row[10]:
            try:  # a holder that is alive but stuck loses its session, so its advisory keys are freed too
                with self._tx() as cur:
                    cur.execute("SELECT pg_terminate_backend(%s) WHERE %s <> pg_backend_pid()", (backend, backend))
            except PortableError:
                pass
        return self._lock(row)

    def locks(self) -> list[LockInfo]:
        with self._tx() as cur:
            cur.execute(self._q("SELECT * FROM {s}.locks ORDER BY since"))
            rows = cur.fetchall()
        return [self._lock(r) for r in rows]

    def _check_fence(self, cur: Any, app: str, target: str) -> None:
        cur.execute(self._q("SELECT * FROM {s}.locks WHERE (app=%s AND target=%s) OR app=%s FOR SHARE"), (app, target, EXCLUSIVE))
        rows = cur.fetchall()
        held = self._held.get((app, target))
        if held is not None:
            if not any(r[2] == held.lock_id and int(r[9]) == held.token for r in rows):
                raise lost_lock_error(self.url, held, self._lock(rows[0]) if rows else None)
            return
        for r in rows:
            info = self._lock(r)
            if info.persistent or (r[6] is not None and self._backend_alive(cur, r[6])):
                raise locked_error(info)

    # ---- revisions
    @staticmethod
    def _revision(row: Any) -> Revision:
        app, target, number, kind, status, created, finished, digest, resources, message = row
        data = json.loads(resources) if isinstance(resources, str) else resources
        return Revision(app, target, int(number), kind, status, created, finished, digest, [Resource.from_dict(d) for d in data], message)

    def _fenced_write(self, app: str, target: str, write: Callable[[Any], T]) -> T:
        """Runs `write` in a transaction that first checks the fence. When the connection
        dropped (a restart, a network blip), reconnects once and goes on only if the lock is
        still ours: its row unchanged and its advisory keys free to take again."""
        for attempt in (1, 2):
            try:
                with self._tx() as cur:
                    self._check_fence(cur, app, target)
                    return write(cur)
            except StateError:
                if attempt == 2 or not (self._conn is None or self._conn.closed or self._conn.broken):
                    raise
                self._resume(app, target)
        raise AssertionError("unreachable")

    def _resume(self, app: str, target: str) -> None:
        self.close()
        try:
            self._connect()
        except StateError as exc:
            raise StateError(f"lost the state store in the middle of the operation; {exc.message}; the outcome was not recorded",
                             hint="run the same command again once it is back: it records what the target runs") from None
        held = self._held.get((app, target))
        if held is None or held.persistent:
            return
        self._keys.pop(held.lock_id, None)  # they went with the old session
        keys: list[tuple[str, int]] = []
        for fn, unfn, key in (("pg_try_advisory_lock_shared", "pg_advisory_unlock_shared", self._store_key),
                              ("pg_try_advisory_lock", "pg_advisory_unlock", _advisory_key(self.schema, app, target))):
            if not self._advisory(fn, key):
                self._release_keys(keys)
                raise lost_lock_error(self.url, held, self._holder_of(app, target))
            keys.append((unfn, key))
        with self._tx() as cur:
            cur.execute(self._q("UPDATE {s}.locks SET backend_pid=pg_backend_pid() WHERE lock_id=%s AND token=%s RETURNING lock_id"), (held.lock_id, held.token))
            still_ours = cur.fetchone() is not None
        if not still_ours:
            self._release_keys(keys)
            raise lost_lock_error(self.url, held, self._holder_of(app, target))
        self._keys[held.lock_id] = keys

    def begin(self, app: str, target: str, kind: RevisionKind, manifest_digest: str, resources: list[Resource], message: str = "") -> Revision:
        crashpoint("state.before-begin")
        payload = json.dumps([r.to_dict() for r in resources], sort_keys=True)
        created = now()

        def insert(cur: Any) -> int:
            cur.execute(self._q("SELECT COALESCE(MAX(number), 0) FROM {s}.revisions WHERE app=%s AND target=%s"), (app, target))
            number = int(cur.fetchone()[0]) + 1
            cur.execute(self._q("INSERT INTO {s}.revisions VALUES (%s,%s,%s,%s,'applying',%s,NULL,%s,%s::jsonb,%s)"), (app, target, number, kind, created, manifest_digest, payload, message))
            return number

        number = self._fenced_write(app, target, insert)
        crashpoint("state.after-begin")
        return Revision(app, target, number, kind, "applying", created, None, manifest_digest, list(resources), message)

    def finish(self, revision: Revision, status: RevisionStatus, message: str = "") -> Revision:
        crashpoint("state.before-finish")
        finished = now()
        text = message or revision.message

        def update(cur: Any) -> None:
            cur.execute(self._q("UPDATE {s}.revisions SET status=%s, finished_at=%s, message=%s WHERE app=%s AND target=%s AND number=%s"), (status, finished, text, revision.app, revision.target, revision.number))

        self._fenced_write(revision.app, revision.target, update)
        crashpoint("state.after-finish")
        return Revision(revision.app, revision.target, revision.number, revision.kind, status, revision.created_at, finished, revision.manifest_digest, revision.resources, text)

    def import_history(self, app: str, target: str, revisions: list[Revision]) -> None:
        def insert_all(cur: Any) -> None:
            cur.execute(self._q("SELECT 1 FROM {s}.revisions WHERE app=%s AND target=%s LIMIT 1"), (app, target))
            if cur.fetchone():
                raise history_taken(self.url, app, target)
            for r in revisions:
                cur.execute(self._q("INSERT INTO {s}.revisions VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s::jsonb,%s)"), revision_row(app, target, r))

        self._fenced_write(app, target, insert_all)

    _COLS = "app, target, number, kind, status, created_at, finished_at, manifest_digest, resources, message"

    def _select(self, where: str, params: tuple[Any, ...], tail: str = "") -> list[Revision]:
        with self._tx() as cur:
            cur.execute(self._q(f"SELECT {self._COLS} FROM {{s}}.revisions WHERE {where} {tail}"), params)
            rows = cur.fetchall()
        return [self._revision(r) for r in rows]

    def history(self, app: str, target: str) -> list[Revision]:
        return self._select("app=%s AND target=%s", (app, target), "ORDER BY number")

    def current(self, app: str, target: str) -> Revision | None:
        found = self._select("app=%s AND target=%s AND status IN ('deployed','destroyed')", (app, target), "ORDER BY number DESC LIMIT 1")
        return found[0] if found else None

    def latest(self, app: str, target: str) -> Revision | None:
        found = self._select("app=%s AND target=%s", (app, target), "ORDER BY number DESC LIMIT 1")
        return found[0] if found else None

    def get(self, app: str, target: str, number: int) -> Revision:
        found = self._select("app=%s AND target=%s AND number=%s", (app, target, number))
        if not found:
            raise InputError(f"{app} has no revision {number} on target {target}", hint=f"portable history --target {target}")
        return found[0]

    def deployments(self) -> Iterator[Revision]:
        yield from self._select(
            "(app, target, number) IN (SELECT app, target, MAX(number) FROM {s}.revisions GROUP BY app, target)", (), "ORDER BY app, target")
