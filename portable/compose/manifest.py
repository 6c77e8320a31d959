"""A compose project as a `LoadedManifest`, validated by the manifest loader itself.

The converted data is written as portable.yaml text and parsed by the ordinary loader,
so a compose file gets exactly the validation (model, references, target settings,
overrides) a portable manifest gets; each problem is then pointed back at the compose
file's FILE:LINE:COL through the conversion's origins.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from portable.compose.convert import convert
from portable.compose.emit import manifest_text
from portable.compose.findings import Conversion
from portable.compose.located import Loc
from portable.compose.project import active_profiles, load_project
from portable.errors import InputError, ManifestError, Problem
from portable.manifest.loader import LoadedManifest, parse_text
from portable.manifest.model import Manifest


class ComposeManifest(LoadedManifest):
    """A LoadedManifest that remembers the compose conversion behind it."""

    conversion: Conversion

    def for_target(self, target: str) -> Manifest:
        try:
            return super().for_target(target)
        except ManifestError as exc:
            raise relocate(exc, self.conversion) from None


def _origin(conv: Conversion, path: str) -> Loc | None:
    probe = path
    while probe:
        if probe in conv.origins:
            return conv.origins[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return None


def relocate(exc: ManifestError, conv: Conversion) -> ManifestError:
    """The same problems, located in the compose files instead of the generated manifest."""
    out = []
    first = conv.project.files[0]
    for p in exc.problems:
        loc = _origin(conv, p.path)
        if loc is not None:
            out.append(replace(p, file=loc.file, line=loc.line, column=loc.col))
        else:
            out.append(replace(p, file=os.path.relpath(first), line=None, column=None))
    return ManifestError(out)


def compose_conversion(files: Sequence[Path], env: Mapping[str, str] | None = None, profiles: Sequence[str] | None = None, manifest_dir: Path | None = None) -> Conversion:
    """Loads and converts the compose files (profiles from `profiles` or COMPOSE_PROFILES)."""
    project = load_project(files, env, profiles)
    return convert(project, manifest_dir)


_RECENT: dict[tuple[object, ...], ComposeManifest] = {}


def _cache_key(files: Sequence[Path], env: Mapping[str, str] | None, profiles: Sequence[str] | None) -> tuple[object, ...]:
    stats = tuple((str(f.resolve()), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    environ = tuple(sorted((os.environ if env is None else env).items()))
    return (stats, environ, tuple(profiles or ()), os.getcwd())


def load_compose_manifest(files: Sequence[Path], env: Mapping[str, str] | None = None, profiles: Sequence[str] | None = None) -> ComposeManifest:
    """The compose project made of `files`, as a validated manifest.

    The last two results are kept: one command may load the same files more than once
    (the CLI prints the import's warnings before the command runs, deploy plans first),
    and the files it names, the environment and the directory are all in the key.
    """
    for f in files:
        if not f.is_file():
            raise InputError(f"{f}: no such compose file", hint="pass -f FILE")
    key = _cache_key(files, env, profiles)
    if key in _RECENT:
        return _RECENT[key]
    out = _load(files, env, profiles)
    if len(_RECENT) >= 2:
        _RECENT.pop(next(iter(_RECENT)))
    _RECENT[key] = out
    return out


def _load(files: Sequence[Path], env: Mapping[str, str] | None, profiles: Sequence[str] | None) -> ComposeManifest:
    conv = compose_conversion(files, env, profiles)
    text = manifest_text(conv)
    # parsed as if it sat beside the first compose file: relative paths start there
    virtual = files[0].resolve().parent / f".{files[0].name}.portable.yaml"
    try:
        loaded = parse_text(text, virtual, {})
    except ManifestError as exc:
        raise relocate(exc, conv) from None
    out = ComposeManifest(files[0], loaded.data, loaded.positions, loaded.manifest, [f.render() for f in conv.findings] + list(loaded.warnings))
    out.conversion = conv
    return out


def profiles_from(env: Mapping[str, str] | None) -> list[str]:
    return active_profiles(None, dict(os.environ if env is None else env))


def origins_of(loaded: Any) -> dict[str, Loc] | None:
    """Compose positions of a loaded manifest's fields, when it came from compose."""
    conv = getattr(loaded, "conversion", None)
    return conv.origins if conv is not None else None


__all__ = ["ComposeManifest", "Problem", "compose_conversion", "load_compose_manifest", "origins_of", "relocate"]
