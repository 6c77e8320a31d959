"""Loads a compose project the way docker compose does, before any conversion.

Order, as in compose-go: each file is read (anchors and `<<` expanded), interpolated from
the environment and the project's `.env`, validated against the compose-spec schema, and
its `include:` entries loaded as sub-projects; the files given with several `-f` are then
merged in order; `extends` is resolved; services outside the active profiles are set
aside. What comes out is one located tree plus the notes a user should see.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portable.compose import schema
from portable.compose.interpolation import interpolate_tree, read_env_file
from portable.compose.located import LDict, LList, Loc, load_yaml
from portable.compose.merge import drop_resets, merge, merge_mappings
from portable.errors import InputError, ManifestError, Problem

MAX_FILE_BYTES = 16 * 1024 * 1024
_RESOURCES = ("services", "volumes", "networks", "secrets", "configs", "models")


@dataclass
class Note:
    """Something the loader did that a user should know about (not an error)."""

    loc: Loc
    path: str
    text: str


@dataclass
class ComposeProject:
    """A compose project fully loaded: one merged tree, with where every value came from."""

    name: str
    files: list[Path]
    project_dir: Path
    env: dict[str, str]
    model: LDict
    profiles: list[str]
    notes: list[Note] = field(default_factory=list)
    base_dirs: dict[str, Path] = field(default_factory=dict)  # file -> directory its relative paths start from
    disabled: dict[str, LDict] = field(default_factory=dict)  # services outside the active profiles

    def base_dir(self, loc: Loc) -> Path:
        return self.base_dirs.get(loc.file, self.project_dir)


def project_environment(project_dir: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    """Interpolation variables: the project's `.env`, overridden by the environment."""
    base = dict(os.environ if env is None else env)
    dotenv = project_dir / ".env"
    merged = read_env_file(dotenv, base) if dotenv.is_file() else {}
    merged.update(base)
    return merged


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


class _Loader:
    def __init__(self, env: dict[str, str], notes: list[Note], base_dirs: dict[str, Path]) -> None:
        self.env = env
        self.notes = notes
        self.base_dirs = base_dirs
        self.cache: dict[tuple[Path, int], LDict] = {}
        self.stack: list[Path] = []

    def read(self, path: Path, env: dict[str, str], base_dir: Path) -> LDict:
        """One file: parsed, interpolated with `env`, schema-checked, includes applied."""
        path = path.resolve()
        if path in self.stack:
            chain = " -> ".join(_display(p) for p in [*self.stack, path])
            raise InputError(f"include cycle: {chain}")
        if not path.is_file():
            raise InputError(f"{_display(path)}: no such compose file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{_display(path)}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; not a compose file")
        name = _display(path)
        self.base_dirs.setdefault(name, base_dir)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: not UTF-8 text (byte {exc.start}); a compose file is YAML text") from None
        doc = load_yaml(text, name)
        if not isinstance(doc, LDict):
            raise ManifestError([Problem("", "a compose file must be a mapping (with `services:`)", name, 1, 1)])
        warnings: list[tuple[Loc, str, str]] = []
        interpolate_tree(doc, env, name, warnings)  # in place
        self.notes.extend(Note(loc, where, text) for loc, where, text in warnings)
        schema.validate(doc, name)
        if "version" in doc:
            self.notes.append(Note(doc.key_at("version"), "version", "ignored: the attribute is obsolete, as compose says"))
        if "include" in doc:
            self.stack.append(path)
            try:
                doc = self._include(doc, path.parent, env)  # an LDict, like the file
            finally:
                self.stack.pop()
        return doc

    def _include(self, doc: LDict, here: Path, env: dict[str, str]) -> LDict:
        entries = doc["include"]
        out = doc.without("include")
        for i, entry in enumerate(entries):
            loc = entries.at(i)
            spec = entry if isinstance(entry, LDict) else LDict(loc)
            paths = [entry] if isinstance(entry, str) else spec.get("path", [])
            paths = [paths] if isinstance(paths, str) else list(paths)
            if not paths:
                raise ManifestError([Problem(f"include[{i}]", "an include needs `path`", loc.file, loc.line, loc.col)])
            first = (here / paths[0]).resolve()
            sub_dir = (here / spec["project_directory"]).resolve() if "project_directory" in spec else first.parent
            env_files = spec.get("env_file", [])
            env_files = [env_files] if isinstance(env_files, str) else list(env_files)
            sub_env = dict(env)
            defaults: dict[str, str] = {}
            candidates = [here / e for e in env_files] if env_files else [sub_dir / ".env"]
            for candidate in candidates:
                if candidate.is_file():
                    defaults.update(read_env_file(candidate, {**defaults, **env}))
                elif env_files:
                    raise ManifestError([Problem(f"include[{i}].env_file", f"{_display(candidate)}: no such env file", loc.file, loc.line, loc.col)])
            sub_env = {**defaults, **env}
            sub: LDict | None = None
            for p in paths:
                part = self.read(here / p, sub_env, sub_dir)
                sub = part if sub is None else merge_mappings(sub, part)
            assert isinstance(sub, LDict)
            assert sub is not None
            for section in _RESOURCES:
                if section not in sub:
                    continue
                mine = out.get(section)
                if mine is None:
                    out.copy_from(sub, section)
                    continue
                for name in sub[section]:
                    if name in mine:
                        at = mine.key_at(name)
                        raise ManifestError([Problem(f"{section}.{name}", f"conflicts with `{name}` imported by include[{i}] from {_display(here / paths[0])}", at.file, at.line, at.col)])
                    mine.copy_from(sub[section], name)
        return out


def active_profiles(profiles: Sequence[str] | None, env: Mapping[str, str]) -> list[str]:
    """`--profile` values, else COMPOSE_PROFILES (comma-separated), as compose reads them."""
    if profiles:
        return [p for item in profiles for p in item.split(",") if p]
    return [p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()]


def project_name(model: LDict, project_dir: Path, env: Mapping[str, str]) -> str:
    """COMPOSE_PROJECT_NAME, else top-level `name`, else the directory's name (normalised)."""
    raw = env.get("COMPOSE_PROJECT_NAME") or model.get("name") or project_dir.name
    return re.sub(r"[^a-z0-9_-]", "", str(raw).lower()) or "app"


def load_project(files: Sequence[str | Path], env: Mapping[str, str] | None = None, profiles: Sequence[str] | None = None) -> ComposeProject:
    """The compose project made of `files` (merged in order), with `extends` and profiles applied."""
    if not files:
        raise InputError("no compose file given")
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.is_file():
            raise InputError(f"{p}: no such compose file", hint="pass -f FILE")
    project_dir = paths[0].resolve().parent
    environ = project_environment(project_dir, env)
    notes: list[Note] = []
    base_dirs: dict[str, Path] = {}
    loader = _Loader(environ, notes, base_dirs)
    model: LDict | None = None
    for p in paths:
        doc = loader.read(p, environ, project_dir)
        model = doc if model is None else merge_mappings(model, doc)
    assert model is not None
    drop_resets(model)
    if "services" not in model and "include" not in model:
        model.put("services", LDict(model.loc), model.loc, model.loc)
    _resolve_extends(model, loader, environ, project_dir)
    active = active_profiles(profiles, environ)
    project = ComposeProject(project_name(model, project_dir, environ), paths, project_dir, environ, model, active, notes, base_dirs)
    _apply_profiles(project)
    return project


def _resolve_extends(model: LDict, loader: _Loader, env: dict[str, str], project_dir: Path) -> None:
    services = model.get("services")
    if not isinstance(services, LDict):
        return
    done: dict[str, LDict] = {}
    for name in list(services):
        services[name] = _extended(name, services, loader, env, done, [], loader.base_dirs)


def _extended(name: str, services: LDict, loader: _Loader, env: dict[str, str], done: dict[str, LDict], chain: list[str], base_dirs: dict[str, Path]) -> LDict:
    key = f"{id(services)}:{name}"
    if key in done:
        return done[key]
    svc = services[name]
    if not isinstance(svc, LDict):
        svc = LDict(services.value_at(name))
    if "extends" not in svc:
        done[key] = svc
        return svc
    ext = svc["extends"]
    at = svc.value_at("extends")
    spec = {"service": ext} if isinstance(ext, str) else dict(ext)
    base_name = str(spec["service"])
    if key in chain:
        raise ManifestError([Problem(f"services.{name}.extends", f"extends cycle: {' -> '.join(c.split(':', 1)[1] for c in [*chain, key])}", at.file, at.line, at.col)])
    if "file" in spec:
        here = base_dirs.get(at.file, Path(at.file).resolve().parent)
        other_path = (Path(at.file).resolve().parent / str(spec["file"])).resolve()
        other = loader.read(other_path, env, other_path.parent)
        others = other.get("services") or LDict(other.loc)
        if base_name not in others:
            raise ManifestError([Problem(f"services.{name}.extends.service", f"no service `{base_name}` in {_display(other_path)}", at.file, at.line, at.col)])
        base = _extended(base_name, others, loader, env, done, [*chain, key], base_dirs)
        del here
    else:
        if base_name not in services:
            raise ManifestError([Problem(f"services.{name}.extends.service", f"no service `{base_name}` to extend", at.file, at.line, at.col)])
        base = _extended(base_name, services, loader, env, done, [*chain, key], base_dirs)
    merged = merge(base, svc.without("extends"), ("services", name))
    assert isinstance(merged, LDict)
    drop_resets(merged)
    done[key] = merged
    return merged


def _apply_profiles(project: ComposeProject) -> None:
    services = project.model.get("services")
    if not isinstance(services, LDict):
        return
    everything = "*" in project.profiles
    for name in list(services):
        svc = services[name]
        declared = [str(p) for p in (svc.get("profiles") or [])] if isinstance(svc, LDict) else []
        if declared and not everything and not set(declared) & set(project.profiles):
            project.disabled[name] = svc
            project.notes.append(Note(services.key_at(name), f"services.{name}", f"left out: only in profile {', '.join(declared)} (enable with --profile {declared[0]})"))
            del services[name]
    for name, svc in services.items():
        deps = svc.get("depends_on") if isinstance(svc, LDict) else None
        if deps is None:
            continue
        names = list(deps) if isinstance(deps, (LList, LDict)) else []
        for i, dep in enumerate(names):
            dep = str(dep)
            if dep in project.disabled:
                required = not (isinstance(deps, LDict) and isinstance(deps[dep], LDict) and deps[dep].get("required") is False)
                loc = deps.at(i) if isinstance(deps, LList) else deps.key_at(dep)
                if required:
                    wanted = ", ".join(str(p) for p in project.disabled[dep].get("profiles", []))
                    raise ManifestError([Problem(f"services.{name}.depends_on.{dep}", f"depends on service `{dep}`, which is only in profile {wanted}", loc.file, loc.line, loc.col, f"enable it with --profile {wanted.split(', ')[0]}")])
            elif dep not in services:
                loc = deps.at(i) if isinstance(deps, LList) else deps.key_at(dep)
                raise ManifestError([Problem(f"services.{name}.depends_on", f"depends on undefined service `{dep}`", loc.file, loc.line, loc.col)])


def plain_model(value: Any) -> Any:
    from portable.compose.located import plain

    return plain(value)
