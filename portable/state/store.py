"""The StateStore protocol and the records it keeps: revisions and locks.

Behind a protocol so a team store (PostgreSQL) can replace the embedded SQLite one
without the engine noticing. Resources are stored as their secret-free dicts.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from portable.plan.resources import Resource

RevisionKind = Literal["deploy", "rollback", "destroy", "migrate"]
RevisionStatus = Literal["applying", "deployed", "failed", "destroyed"]


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


@dataclass(frozen=True)
class LockInfo:
    lock_id: str
    app: str
    target: str
    holder: str
    since: str
    operation: str = ""


class StateStore(Protocol):
    """Where portable remembers what it deployed, and who is deploying now."""

    def lock(self, app: str, target: str, operation: str, *, wait: float = 30.0) -> AbstractContextManager[LockInfo]:
        """Holds the (app, target) lock; waits up to `wait` seconds, then raises StateLockedError."""
        ...

    def unlock(self, lock_id: str) -> LockInfo:
        """Force-releases a lock (after its holder died). Raises StateError if unknown."""
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

    def get(self, app: str, target: str, number: int) -> Revision:
        """Revision `number`; raises InputError when there is none."""
        ...

    def deployments(self) -> Iterator[Revision]:
        """The newest revision of every (app, target) pair."""
        ...
