"""Loads a manifest file into a validated `Manifest`, with errors that point at line:column.

The YAML is composed into nodes (not loaded straight to Python) so every value keeps its
position; interpolation, overrides and validation all report against those positions.
"""
from __future__ import annotations

import copy
from dataclasses import replace
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from portable.errors import InputError, ManifestError, Problem
from portable.manifest.interpolate import InterpolationError, environment_for, interpolate
from portable.manifest.model import DNS_LABEL, Manifest
from portable.manifest.references import check_references

Path_ = tuple[str | int, ...]


class Positions:
    """Where each value and each mapping key of the document starts (1-based line, column)."""

    def __init__(self) -> None:
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}

    def at(self, path: Path_, *, key: bool = False) -> tuple[int | None, int | None]:
        """The position of `path`, or of its nearest located ancestor."""
        table = self.keys if key and tuple(path) in self.keys else self.values
        probe = tuple(path)
        while probe not in table and probe:
            probe = probe[:-1]
        return table.get(probe, (None, None))

    def rebased(self, prefix: Path_) -> "Positions":
        """A copy where everything under `prefix` also answers for the path without it."""
        out = Positions()
        for src, dst in ((self.values, out.values), (self.keys, out.keys)):
            dst.update(src)
            for p, pos in src.items():
                if p[: len(prefix)] == prefix:
                    dst[p[len(prefix):]] = pos
        return out


def format_path(path: Path_) -> str:
    """`("services", "web", "ports", 0, "port")` -> `services.web.ports[0].port`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Builder:
    """Turns a composed YAML node tree into Python values, recording positions and problems."""

    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.positions = Positions()
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_ = ()) -> Any:
        self.positions.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problems.append(self._at(path, "YAML merge keys (<<) are not supported", key_node))
                    continue
                key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int)):
                    self.problems.append(self._at(path, "mapping keys must be text", key_node))
                    continue
                key = str(key) if not isinstance(key, bool) else str(key).lower()
                if key in first:
                    self.problems.append(self._at(path + (key,), f"duplicate key `{key}` (first defined at line {first[key]})", key_node))
                    continue
                first[key] = key_node.start_mark.line + 1
                self.positions.keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        value = self._constructor.construct_object(node, deep=True)
        if isinstance(value, str) and "$" in value:
            try:
                text = interpolate(value, self.env, self.warnings)
            except InterpolationError as exc:
                self.problems.append(self._at(path, str(exc), node))
                return value
            if node.style is None and text != value:
                # a plain scalar that was all interpolation gets YAML's typing (e.g. replicas: ${N:-2})
                try:
                    typed = yaml.safe_load(text)
                    if isinstance(typed, (int, float, bool)) and not isinstance(typed, bool):
                        return typed
                except yaml.YAMLError:
                    pass
            return text
        return value

    def _at(self, path: Path_, message: str, node: yaml.Node) -> Problem:
        return Problem(format_path(path), message, self.file, node.start_mark.line + 1, node.start_mark.column + 1)


def _deep_merge(base: Any, over: Any) -> Any:
    """Override semantics: mappings merge key by key, everything else (lists too) replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(over)


def _model_fields_at(loc: Path_) -> list[str]:
    """Field names allowed at `loc` in the manifest model (for "did you mean" hints)."""
    tp: Any = Manifest
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if not isinstance(part, str) or part not in tp.model_fields:
                return []
            tp = tp.model_fields[part].annotation
        elif get_origin(tp) in (dict, list):
            tp = get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Union or str(origin) == "<class 'types.UnionType'>":
            models = [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
            others = [a for a in get_args(tp) if a is not type(None)]
            tp = models[0] if models else others[0]
        elif origin is not None and getattr(tp, "__metadata__", None) is not None:
            tp = get_args(tp)[0]
        else:
            return tp


def _data_path(data: Any, loc: tuple[Any, ...], keep_last: bool) -> Path_:
    """Drops pydantic's union/type tags from `loc`, keeping only steps that exist in `data`."""
    out: list[str | int] = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            out.append(part)
            cur = cur[part]
        elif i == len(loc) - 1 and keep_last:
            out.append(part)
    return tuple(out)


def _problems_from(exc: ValidationError, data: Any, positions: Positions, file: str, prefix: Path_ = ()) -> list[Problem]:
    problems = []
    for err in exc.errors():
        kind = err["type"]
        path = prefix + _data_path(data, tuple(err["loc"]), keep_last=kind in ("missing", "extra_forbidden"))
        msg = err["msg"].removeprefix("Value error, ")
        hint = None
        if kind == "extra_forbidden":
            field = str(path[-1])
            msg = f"unknown field `{field}`"
            close = difflib.get_close_matches(field, _model_fields_at(path[len(prefix):-1]), n=1)
            hint = f"did you mean `{close[0]}`?" if close else None
        elif kind == "missing":
            msg = "required field is missing"
        elif kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == DNS_LABEL:
            msg = f"expected a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit), got {err.get('input')!r}"
        elif not isinstance(err.get("input"), (dict, list)):
            msg += f", got {err.get('input')!r}"
        line, col = positions.at(path, key=kind == "extra_forbidden")
        problems.append(Problem(format_path(path), msg, file, line, col, hint))
    return problems


class LoadedManifest:
    """A parsed manifest: raw data with positions, and its validated model."""

    def __init__(self, path: Path, data: dict[str, Any], positions: Positions, manifest: Manifest, warnings: list[str]) -> None:
        self.path = path
        self.data = data
        self.positions = positions
        self.manifest = manifest
        self.warnings = warnings

    def for_target(self, target: str) -> Manifest:
        """The manifest with `overrides.<target>` merged over the base, validated again."""
        override = self.data.get("overrides", {}).get(target)
        if not override:
            return self.manifest
        merged = _deep_merge({k: v for k, v in self.data.items() if k != "overrides"}, override)
        try:
            return _validate(merged, self.positions.rebased(("overrides", target)), str(self.path))
        except ManifestError as exc:
            # name the override when the bad value came from it, so users look in the right place
            raise ManifestError([
                replace(p, path=f"overrides.{target}.{p.path}") if _has_path(override, p.path) else p
                for p in exc.problems
            ]) from None


def _validate(data: dict[str, Any], positions: Positions, file: str) -> Manifest:
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_problems_from(exc, data, positions, file)) from None
    problems = check_references(manifest)
    problems += _check_target_settings(manifest, data, positions, file)
    if problems:
        located = []
        for p in problems:
            line, col = positions.at(tuple(_split_path(p.path)), key=True)
            located.append(Problem(p.path, p.message, file, line, col, p.hint))
        raise ManifestError(located)
    return manifest


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in path.replace("]", "").split("."):
        name, _, idx = piece.partition("[")
        parts.append(name)
        if idx:
            parts.extend(int(i) for i in idx.split("["))
    return parts


def _has_path(data: Any, path: str) -> bool:
    cur = data
    for part in _split_path(path):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
        else:
            return False
    return True


def _check_target_settings(m: Manifest, data: dict[str, Any], positions: Positions, file: str) -> list[Problem]:
    from portable.providers.registry import settings_model  # light: no SDK import

    problems: list[Problem] = []
    for name, target in m.targets.items():
        model = settings_model(target.provider)
        try:
            model.model_validate(target.settings)
        except ValidationError as exc:
            problems += [
                Problem(p.path, p.message, None, None, None, p.hint)
                for p in _problems_from(exc, target.settings, Positions(), file, ("targets", name))
            ]
    return problems


def parse_file(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedManifest:
    """Reads, interpolates and validates the base manifest at `path`."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such manifest file", hint="create one with `portable init` or pass -f FILE")
    text = file.read_text(encoding="utf-8")
    return parse_text(text, file, env)


def parse_text(text: str, file: Path, env: Mapping[str, str] | None = None) -> LoadedManifest:
    name = str(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        hint = None
        if line is not None and "${" in text.splitlines()[line - 1 if line <= len(text.splitlines()) else -1]:
            hint = 'inside { } or [ ], quote a value that uses ${...}: published: "${PORT}"'
        raise ManifestError([Problem("", f"invalid YAML: {exc.problem or exc.context}", name, line, col, hint)]) from None
    if node is None or not isinstance(node, yaml.MappingNode):
        raise ManifestError([Problem("", "the manifest must be a mapping with apiVersion, kind, metadata and services", name, 1, 1)])
    builder = _Builder(name, environment_for(file, env))
    data = builder.build(node)
    if builder.problems:
        raise ManifestError(builder.problems)
    manifest = _validate(data, builder.positions, name)
    for target, override in data.get("overrides", {}).items():
        LoadedManifest(file, data, builder.positions, manifest, []).for_target(target)
    return LoadedManifest(file, data, builder.positions, manifest, builder.warnings)
