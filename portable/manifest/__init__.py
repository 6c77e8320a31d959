"""The manifest: model, loader with located errors, interpolation, and binding to a target."""
from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

from portable.errors import InputError
from portable.manifest.app import LOCAL_TARGET, App
from portable.manifest.loader import LoadedManifest, parse_file
from portable.manifest.model import Manifest, Service, Target

DEFAULT_FILE = "portable.yaml"

__all__ = ["App", "DEFAULT_FILE", "LOCAL_TARGET", "LoadedManifest", "Manifest", "Service", "Target", "bind_app", "load_app", "parse_file", "resolve_target"]


def resolve_target(manifest: Manifest, name: str) -> Target:
    """The declared target `name`, or the built-in `local` (docker on the local engine)."""
    if name in manifest.targets:
        return manifest.targets[name]
    if name == LOCAL_TARGET:
        return Target(provider="docker")
    known = sorted(set(manifest.targets) | {LOCAL_TARGET})
    close = difflib.get_close_matches(name, known, n=1)
    raise InputError(
        f"no target named `{name}`; declared targets: {', '.join(known)}",
        hint=f"did you mean `{close[0]}`?" if close else "declare it under `targets:` in the manifest",
    )


def bind_app(loaded: LoadedManifest, target: str = LOCAL_TARGET, env: Mapping[str, str] | None = None) -> App:
    """Binds an already parsed manifest to `target` (overrides merged); reads no file."""
    spec = resolve_target(loaded.manifest, target)
    manifest = loaded.for_target(target)
    environ = dict(os.environ if env is None else env)
    return App(manifest=manifest, path=Path(loaded.path).resolve(), target_name=target, target=spec, env=environ)


def load_app(path: str | Path = DEFAULT_FILE, target: str = LOCAL_TARGET, env: Mapping[str, str] | None = None) -> App:
    """Loads, validates and binds the manifest at `path` to `target` (overrides merged)."""
    return bind_app(parse_file(path, env), target, env)
