"""The StateStore protocol and the records it keeps: revisions and locks.

Behind a protocol so the team stores (PostgreSQL, S3) replace the embedded SQLite one
without the engine noticing. Resources are stored as their secret-free dicts. Every store
gives the same lock semantics: a per-(app, target) lock with a holder, an id that
`portable state unlock` takes, a fencing token that every write is checked against, and an
exclusive store-wide lock for repair work.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from portable.errors import StateError
from portable.plan.resources import Resource

RevisionKind = Literal["deploy", "rollback", "destroy", "migrate", "scale", "restart"]
RevisionStatus = Literal["applying", "deployed", "failed", "destroyed"]
Progress = Callable[[str], None]

EXCLUSIVE = "*"  # app and target of the store-wide (repair) lock
INTERRUPTED = "interrupted: its process lost the lock or the state store before finishing"


@dataclass(frozen=True)
class Revision:
    """One numbered change of an app on a target."""

    app: str
    target: str
    number: int
    kind: str
    status: str
    created_at: str
    finished_at: str | None
    manifest_digest: str
    resources: list[Resource] = field(repr=False)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "target": self.target,
            "revision": self.number,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "manifest_digest": self.manifest_digest,
            "resources": len(self.resources),
            "message": self.message,
        }

    def record(self) -> dict[str, Any]:
        """Everything stored for the revision, resources included (what migrate copies)."""
        return {**self.to_dict(), "resources": [r.to_dict() for r in self.resources]}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "Revision":
        return cls(
            str(data["app"]), str(data["target"]), int(data["revision"]), str(data["kind"]), str(data["status"]),
            str(data["created_at"]), data.get("finished_at"), str(data["manifest_digest"]),
            [Resource.from_dict(d) for d in data["resources"]], str(data.get("message") or ""),
        )

    def digest(self) -> str:
        """sha256 of the canonical record: equal digests mean the same revision, byte for byte."""
        return hashlib.sha256(json.dumps(self.record(), sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def revision_row(app: str, target: str, revision: Revision) -> tuple[Any, ...]:
    """`revision` as a row of the SQL stores' `revisions` table, filed under `app` and `target`:
    app, target, number, kind, status, created_at, finished_at, manifest_digest, the resources
    as JSON, message."""
    r = revision
    return (app, target, r.number, r.kind, r.status, r.created_at, r.finished_at, r.manifest_digest,
            json.dumps([x.to_dict() for x in r.resources], sort_keys=True), r.message)


def history_taken(store: str, app: str, target: str) -> StateError:
    """import_history into a store that already has revisions of the pair: refused, never merged."""
    return StateError(f"{store} already holds a history for {app} on target {target}")


@dataclass(frozen=True)
class LockInfo:
    """Who holds the lock of (app, target), or of the whole store when both are `*`."""

    lock_id: str
    app: str
    target: str
    holder: str
    since: str
    operation: str = ""
    token: int = 0  # fencing token: a write is accepted only while the store's lock still carries it
    persistent: bool = False  # taken by `portable state lock`: kept until `portable state unlock`
    expires: str | None = None  # S3: the lease's end, renewed by the holder

    @property
    def exclusive(self) -> bool:
        return self.app == EXCLUSIVE

    @property
    def subject(self) -> str:
        return "the whole state store" if self.exclusive else f"{self.app} on target {self.target}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "lock_id": self.lock_id, "app": self.app, "target": self.target, "holder": self.holder,
            "since": self.since, "operation": self.operation, "token": self.token,
            "persistent": self.persistent, "expires": self.expires, "exclusive": self.exclusive,
        }


class StateStore(Protocol):
    """Where portable remembers what it deployed, and who is deploying now."""

    url: str  # how to name the store in messages (no password)

    def lock(self, app: str, target: str, operation: str, *, wait: float = 30.0, progress: Progress | None = None, read_only: bool = False) -> AbstractContextManager[LockInfo]:
        """Holds the (app, target) lock; waits up to `wait` seconds (saying so through
        `progress`), then raises StateLockedError naming the holder and the lock id.
        Revisions a dead holder left `applying` are marked failed, unless `read_only`."""
        ...

    def hold(self, app: str, target: str, operation: str, *, wait: float = 30.0, progress: Progress | None = None) -> LockInfo:
        """Takes a persistent lock (`*`, `*` for the whole store) that outlives this process,
        until `unlock(lock_id)`. A process with PORTABLE_LOCK_ID set to its id works under it."""
        ...

    def unlock(self, lock_id: str) -> LockInfo:
        """Force-releases a lock (after its holder died). Raises InputError if unknown."""
        ...

    def locks(self) -> list[LockInfo]: ...

    def begin(self, app: str, target: str, kind: RevisionKind, manifest_digest: str, resources: list[Resource], message: str = "") -> Revision:
        """Records a new revision in status `applying` and returns it (numbered)."""
        ...

    def finish(self, revision: Revision, status: RevisionStatus, message: str = "") -> Revision: ...

    def history(self, app: str, target: str) -> list[Revision]:
        """All revisions, oldest first."""
        ...

    def current(self, app: str, target: str) -> Revision | None:
        """The newest revision that reached the target (deployed or destroyed)."""
        ...

    def latest(self, app: str, target: str) -> Revision | None:
        """The newest revision whatever its status."""
        ...

    def get(self, app: str, target: str, number: int) -> Revision:
        """Revision `number`; raises InputError when there is none."""
        ...

    def deployments(self) -> Iterator[Revision]:
        """The newest revision of every (app, target) pair."""
        ...

    def import_history(self, app: str, target: str, revisions: list[Revision]) -> None:
        """Writes `revisions` verbatim as the whole history of a pair that has none (migrate)."""
        ...

    def app_key(self, app: str, proposed: bytes | None = None) -> bytes:
        """`app`'s secret-digest key (32 random bytes), created on first use (as `proposed`
        when given: `state migrate` carries the source's) and kept in the store's secret
        part; see portable.state.keys."""
        ...

    def close(self) -> None: ...
