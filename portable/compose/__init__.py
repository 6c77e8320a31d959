"""Compose files read directly: `portable -f compose.yaml render|plan|deploy` and `portable import`.

The manifest loader calls `manifest_from_compose` first; it answers None for a portable
manifest (recognised by its content, not its name: a top-level `apiVersion`), so loading a
portable.yaml costs one look at its top-level keys and imports nothing more from here.
For a compose file (or several, merged as compose merges them) it loads the project,
converts it, and validates the result with the manifest loader itself, pointing every
error back at the compose file's line and column.
"""
from __future__ import annotations

import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portable.manifest.loader import LoadedManifest

_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)\s*:", re.MULTILINE)
_COMPOSE_KEYS = {"services", "include", "volumes", "networks", "secrets", "configs", "name", "version", "models"}
SNIFF_BYTES = 256 * 1024


def looks_like_compose(text: str) -> bool:
    """True for a compose document: compose's top-level keys, and no `apiVersion`."""
    keys = set(_TOP_KEY.findall(text[:SNIFF_BYTES]))
    if "apiVersion" in keys or "kind" in keys:
        return False
    return bool(keys & _COMPOSE_KEYS) or any(k.startswith("x-") for k in keys) and "services" in text


def manifest_from_compose(path: str | Path, env: Mapping[str, str] | None = None) -> "LoadedManifest | None":
    """The manifest for compose file `path`, or None when `path` is a portable manifest.

    Only a regular file is looked at (the manifest loader refuses anything else in its own
    words), and only its first SNIFF_BYTES.
    """
    file = Path(path)
    try:
        if not stat.S_ISREG(file.stat().st_mode):
            return None
        with file.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return None  # the manifest loader reports the missing or unreadable file
    if not looks_like_compose(head):
        return None
    from portable.compose.manifest import load_compose_manifest

    return load_compose_manifest([file], env)


def merged_compose_manifest(paths: Sequence[str | Path], env: Mapping[str, str] | None = None) -> "LoadedManifest":
    """The manifest for several compose files merged in order (one file: as `-f FILE`)."""
    files = [Path(p) for p in paths]
    if len(files) == 1:
        from portable.manifest.loader import parse_file

        return parse_file(files[0], env)
    from portable.compose.manifest import load_compose_manifest

    return load_compose_manifest(files, env)
