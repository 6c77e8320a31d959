"""Where portable remembers deployments: revisions, history and locks.

`open_store` picks the store from the `--state` value (or PORTABLE_STATE): a file path (or
sqlite:///path) for the embedded SQLite store, postgresql://... for a team's PostgreSQL,
s3://bucket/prefix for a bucket. The team stores import their SDK only when used.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from portable.errors import InputError
from portable.state.sqlite import SqliteStateStore
from portable.state.store import EXCLUSIVE, LockInfo, Revision, StateStore

__all__ = ["EXCLUSIVE", "LockInfo", "Revision", "SqliteStateStore", "StateStore", "default_state_path", "open_store", "open_store_url"]

SCHEMES = "a file path, sqlite:///PATH, postgresql://USER@HOST/DB?schema=NAME or s3://BUCKET/PREFIX"


def default_state_path(manifest: str | Path) -> Path:
    """`.portable/state.db` beside the manifest, unless PORTABLE_STATE says otherwise."""
    env = os.environ.get("PORTABLE_STATE")
    return Path(env) if env else Path(manifest).resolve().parent / ".portable" / "state.db"


def _shown(url: str) -> str:
    from portable.state.postgres import redact

    return redact(url)


def open_store_url(url: str) -> StateStore:
    """The store a `--state` value names; InputError (exit 2) for what the user must fix."""
    text = url.strip()
    if not text:
        raise InputError("the state location is empty", hint=f"use {SCHEMES}")
    if "://" not in text:
        return SqliteStateStore(text)
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
    except ValueError as exc:
        raise InputError(f"state URL {_shown(text)} is malformed: {exc}", hint=f"use {SCHEMES}") from None
    if scheme in ("postgres", "postgresql"):
        from portable.state.postgres import PostgresStateStore

        try:
            _ = parts.port  # urlsplit checks the port only when asked
        except ValueError:
            raise InputError(f"state URL {_shown(text)} is malformed: the port is not a number") from None
        return PostgresStateStore(text)
    if scheme == "s3":
        from portable.state.s3 import S3StateStore

        return S3StateStore(text)
    if scheme in ("sqlite", "file"):
        path = parts.path if not parts.netloc else f"/{parts.netloc}{parts.path}"
        if not path:
            raise InputError(f"state URL {text} names no file", hint="use sqlite:///absolute/path/state.db")
        return SqliteStateStore(path)
    raise InputError(f"unknown state store scheme {scheme}:// in {_shown(text)}", hint=f"use {SCHEMES}")


def open_store(path: str | Path | None, manifest: str | Path | None = None) -> StateStore:
    """The store at `path` (a file path or a URL), else the default file beside `manifest`."""
    if path is None:
        if manifest is None:
            raise ValueError("a state path or a manifest is needed")
        env = os.environ.get("PORTABLE_STATE")
        if env:
            return open_store_url(env)
        return SqliteStateStore(default_state_path(manifest))
    return open_store_url(str(path))
