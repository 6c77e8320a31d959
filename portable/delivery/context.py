"""Content hash of a build context, so `build:` images are tagged `<app>/<service>:<hash>`
(and `<registry>/<prefix>/<app>-<service>:<hash>` on targets that push): built once per hash.

An unchanged source tree gives the same tag (nothing is rebuilt or restarted); any edited,
added or removed file, Dockerfile or build arg gives a new one. `.dockerignore` patterns are
honoured in their simple form (fnmatch on the relative path and on each leading directory).
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from portable.errors import InputError

ALWAYS_SKIPPED = (".git", ".portable")


def _ignore_patterns(context: Path) -> list[str]:
    file = context / ".dockerignore"
    if not file.is_file():
        return []
    lines = (line.strip() for line in file.read_text().splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#") and not line.startswith("!")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pat) for pat in patterns for p in prefixes)


def context_hash(context: Path, dockerfile: str, args: Mapping[str, str], target: str | None = None) -> str:
    """12 hex digits over every file's path, mode and bytes, the Dockerfile name, the args and
    the multi-stage `target` (none: the hash of earlier versions, so nothing is rebuilt)."""
    if not context.is_dir():
        raise InputError(f"build context {context} is not a directory")
    if not (context / dockerfile).is_file():
        raise InputError(f"build context {context} has no {dockerfile}")
    patterns = _ignore_patterns(context)
    h = hashlib.sha256()
    h.update(f"dockerfile={dockerfile}\n".encode())
    if target is not None:
        h.update(f"target={target}\n".encode())
    for key in sorted(args):
        h.update(f"arg {key}={args[key]}\n".encode())
    for root, dirs, files in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d not in ALWAYS_SKIPPED)
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(context).as_posix()
            if _ignored(rel, patterns) and rel != dockerfile:
                continue
            h.update(f"file {rel} {path.stat().st_mode & 0o777:o}\n".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]
