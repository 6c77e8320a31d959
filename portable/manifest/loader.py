"""Loads a manifest file into a validated `Manifest`, with errors that point at line:column.

The YAML is composed into nodes (not loaded straight to Python) so every value keeps its
position; interpolation, overrides and validation all report against those positions.
"""
from __future__ import annotations

import copy
import math
from dataclasses import replace
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from portable.errors import ManifestError, Problem
from portable.manifest.interpolate import InterpolationError, environment_for, interpolate
from portable.manifest.model import DNS_LABEL, ENV_NAME, Manifest
from portable.manifest.paths import format_path, split_path as _split_path
from portable.manifest.reading import compose_bounded, read_manifest_text
from portable.manifest.references import check_references
from portable.paused_gc import paused_gc

Path_ = tuple[str | int, ...]

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
# implicit tags of plain scalars that are text to every target: dates, `=`, `<<` as a value
_TEXT_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("timestamp", "value", "merge")}
_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}
_BAD = object()  # a scalar that could not be read; its problem is already recorded
MAX_PROBLEMS = 20  # more would bury the first one, which is usually the cause


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
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (_MAP, _SEQ):
            self.problems.append(self._at(path, f"unsupported YAML tag `{node.tag}`: a manifest holds plain mappings, lists and scalars", node))
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problems.append(self._at(path + ("<<",), "YAML merge keys (<<) are not supported", key_node))
                    continue
                key = self._scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
                if key is _BAD:
                    continue
                if not isinstance(key, (str, int)):
                    written = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                    kind = "a list or mapping" if not isinstance(key_node, yaml.ScalarNode) else type(key).__name__.replace("NoneType", "null")
                    self.problems.append(self._at(path + (written[:40],), f"mapping keys must be text; this key reads as {kind} (quote it)", key_node))
                    continue
                if isinstance(key, str) and "\0" in key:
                    self.problems.append(self._at(path + (key,), "the key contains a NUL character, which no target accepts", key_node))
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
        value = self._scalar(node, path)
        if value is _BAD:
            return None
        if isinstance(value, str) and "$" in value:
            try:
                # what interpolation yields is text, as in compose: numeric fields convert it
                # (replicas: ${N:-2}), every other field keeps it as written (1.10, 02134, 12:30)
                value = interpolate(value, self.env, self.warnings)
            except InterpolationError as exc:
                self.problems.append(self._at(path, str(exc), node))
                return value
        if isinstance(value, str) and "\0" in value:
            self.problems.append(self._at(path, "the value contains a NUL character, which no target accepts", node))
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(self._at(path, f"expected a finite number, got {_short(node.value)}", node))
        return value

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        """The Python value of a scalar node, or _BAD (with a problem recorded) for a bad tag."""
        if node.tag == _STR_TAG:  # most scalars: the text itself, without PyYAML's constructor dispatch
            return str(node.value)
        if node.tag in _TEXT_TAGS:
            return str(node.value)
        if node.tag not in _SCALAR_TAGS:
            self.problems.append(self._at(path, f"unsupported YAML tag `{node.tag}`: a manifest holds plain text, numbers and booleans", node))
            return _BAD
        try:
            return self._constructor.construct_object(node, deep=True)
        except Exception:  # noqa: BLE001 - PyYAML's constructors raise KeyError, ValueError, ... for bad input
            kind = node.tag.rsplit(":", 1)[-1]
            self.problems.append(self._at(path, f"{str(node.value)[:40]!r} is not a valid {kind}", node))
            return _BAD

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
    for err in exc.errors()[:MAX_PROBLEMS]:
        kind = err["type"]
        path = prefix + _data_path(data, tuple(err["loc"]), keep_last=kind in ("missing", "extra_forbidden"))
        msg = err["msg"].removeprefix("Value error, ")
        hint = None
        if kind == "extra_forbidden":
            field = str(path[-1])
            msg = f"unknown field `{field if len(field) <= 60 else field[:57] + '...'}`"
            close = difflib.get_close_matches(field, _model_fields_at(path[len(prefix):-1]), n=1)
            hint = f"did you mean `{close[0]}`?" if close else None
        elif kind == "missing":
            msg = "required field is missing"
        elif kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == DNS_LABEL:
            msg = f"expected a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit), got {err.get('input')!r}"
        elif kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == ENV_NAME:
            msg = f"expected an environment variable name (letters, digits, '_', '.' and '-', not starting with a digit), got {_short(err.get('input'))}"
        elif not isinstance(err.get("input"), (dict, list)) and ", got " not in msg and _short(err.get("input")) not in msg:
            msg += f", got {_short(err.get('input'))}"
        line, col = positions.at(path, key=kind == "extra_forbidden")
        problems.append(Problem(format_path(path), msg, file, line, col, hint))
    return problems


def _short(value: Any) -> str:
    """`value` for an error message, cut so that a huge input does not flood the terminal."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return "a number too large to show"
    return text if len(text) <= 80 else text[:77] + "..."


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return problems[:MAX_PROBLEMS] + [Problem("", f"... and {len(problems) - MAX_PROBLEMS} more problems")]


class LoadedManifest:
    """A parsed manifest: raw data with positions, and its validated model."""

    def __init__(self, path: Path, data: dict[str, Any], positions: Positions, manifest: Manifest, warnings: list[str]) -> None:
        self.path = path
        self.data = data
        self.positions = positions
        self.manifest = manifest
        self.warnings = warnings

    def locate(self, target: str, problems: list[Problem]) -> list[Problem]:
        """`problems` found on the manifest bound to `target`, given file:line:column (at the
        field of `overrides.<target>` when the override wrote it, named so)."""
        override = self.data.get("overrides", {}).get(target) or {}
        out = []
        for p in problems:
            path = tuple(_split_path(p.path)) if p.path else ()
            if path and _has_path(override, p.path):
                path = ("overrides", target, *path)
            line, col = self.positions.at(path, key=True)
            out.append(replace(p, path=format_path(path), file=str(self.path), line=line, column=col))
        return out

    def for_target(self, target: str) -> Manifest:
        """The manifest with `overrides.<target>` merged over the base, validated again."""
        override = self.data.get("overrides", {}).get(target)
        if not override:
            return self.manifest
        merged = _deep_merge({k: v for k, v in self.data.items() if k != "overrides"}, override)
        try:
            return _validate(merged, self.positions.rebased(("overrides", target)), str(self.path))
        except ManifestError as exc:
            # the base is valid, so the override caused every problem: name it, at the override's
            # own field when the bad value came from it, so users look in the right place
            raise ManifestError([_in_override(p, target, override, self.positions) for p in exc.problems]) from None


def _in_override(p: Problem, target: str, override: dict[str, Any], positions: Positions) -> Problem:
    """`p` (found in the merged manifest) named after the part of `overrides.<target>` behind it."""
    if not p.path:
        return p
    if _has_path(override, p.path):
        return replace(p, path=f"overrides.{target}.{p.path}")
    if p.message.startswith("dependency cycle: "):
        # point at a depends_on in the cycle that the override wrote
        for svc in p.message.removeprefix("dependency cycle: ").split(" -> "):
            if _has_path(override, f"services.{svc}.depends_on"):
                path = ("overrides", target, "services", svc, "depends_on")
                line, col = positions.at(path, key=True)
                return replace(p, path=format_path(path), line=line, column=col)
    return replace(p, message=f"with overrides.{target} merged: {p.message}")


def _validate(data: dict[str, Any], positions: Positions, file: str) -> Manifest:
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_capped(_problems_from(exc, data, positions, file))) from None
    problems = check_references(manifest)
    problems += _check_target_settings(manifest, data, positions, file)
    if problems:
        located = []
        for p in problems:
            line, col = positions.at(tuple(_split_path(p.path)), key=True)
            located.append(p if p.file else Problem(p.path, p.message, file, line, col, p.hint))
        raise ManifestError(_capped(located))
    return manifest


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
            settings = model.model_validate(target.settings)
        except ValidationError as exc:
            problems += _problems_from(exc, target.settings, positions, file, ("targets", name))
            continue
        for service in getattr(settings, "instance_types", None) or {}:
            if service not in m.services:
                close = difflib.get_close_matches(service, list(m.services), n=1)
                line, col = positions.at(("targets", name, "instance_types", service), key=True)
                problems.append(Problem(f"targets.{name}.instance_types.{service}", f"no service named `{service}`; instance_types sizes services", file, line, col, f"did you mean `{close[0]}`?" if close else None))
    return problems


def parse_file(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedManifest:
    """Reads, interpolates and validates the base manifest at `path`."""
    from portable.compose import manifest_from_compose, merged_compose_manifest  # compose file(s), detected by content

    if not isinstance(path, (str, Path)):  # several -f files: compose files, merged as compose merges them
        return merged_compose_manifest(path, env)
    file = Path(path)
    text = read_manifest_text(file)  # bounded and checked (a FIFO, /dev/zero) before anything opens it
    if (compose := manifest_from_compose(path, env)) is not None:
        return compose
    return parse_text(text, file, env)


def parse_text(text: str, file: Path, env: Mapping[str, str] | None = None) -> LoadedManifest:
    """Interpolates and validates manifest `text` read from `file` (bounded: see reading.py)."""
    with paused_gc():  # a tree of new objects, no cycles: see paused_gc.py
        return _parse_text(text, file, env)


def _parse_text(text: str, file: Path, env: Mapping[str, str] | None) -> LoadedManifest:
    name = str(file)
    node = compose_bounded(text, name)
    if node is None or not isinstance(node, yaml.MappingNode):
        raise ManifestError([Problem("", "the manifest must be a mapping with apiVersion, kind, metadata and services", name, 1, 1)])
    builder = _Builder(name, environment_for(file, env))
    data = builder.build(node)
    if builder.problems:
        raise ManifestError(_capped(builder.problems))
    manifest = _validate(data, builder.positions, name)
    for target in data.get("overrides", {}):
        LoadedManifest(file, data, builder.positions, manifest, []).for_target(target)
    return LoadedManifest(file, data, builder.positions, manifest, builder.warnings)
