"""Where portable remembers deployments: revisions, history and locks."""
from __future__ import annotations

import os
from pathlib import Path

from portable.state.sqlite import SqliteStateStore
from portable.state.store import LockInfo, Revision, StateStore

__all__ = ["LockInfo", "Revision", "SqliteStateStore", "StateStore", "default_state_path", "open_store"]


def default_state_path(manifest: Path) -> Path:
    """`.portable/state.db` beside the manifest, unless PORTABLE_STATE says otherwise."""
    env = os.environ.get("PORTABLE_STATE")
    return Path(env) if env else manifest.resolve().parent / ".portable" / "state.db"


def open_store(path: str | Path | None, manifest: Path | None = None) -> StateStore:
    """The store at `path` (a file path; a postgresql:// URL is reserved for the team store)."""
    if path is None:
        if manifest is None:
            raise ValueError("a state path or a manifest is needed")
        path = default_state_path(manifest)
    text = str(path)
    if text.startswith(("postgres://", "postgresql://")):
        from portable.errors import InputError

        raise InputError("the PostgreSQL state store is not available in this version", hint="use a file path for --state")
    return SqliteStateStore(text)
