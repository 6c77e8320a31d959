"""YAML read into plain dicts and lists that remember where each key and value was written.

Every warning and error of the compose importer names `FILE:LINE:COL`, and values travel
through includes, `extends` and multi-file merges before they are converted; so the
position rides along with the data instead of living in a side table keyed by path.

Scalars are typed as compose itself types them (YAML 1.2 core schema, like compose-go's
yaml.v3): `no`, `on`, `yes` stay text, and `22:22` is not a sexagesimal number.
Anchors, aliases and `<<` merge keys are expanded; `!reset` and `!override` are kept as
markers for the multi-file merge. Expansion is bounded so alias bombs fail fast.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import yaml

from portable.errors import ManifestError, Problem

MAX_NODES = 200_000  # values built from one file, aliases expanded; a 200-service stack is ~6,000
MAX_DEPTH = 64  # the deepest real compose path is about 8 levels

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_MERGE_TAG = "tag:yaml.org,2002:merge"
RESET_TAG = "!reset"
OVERRIDE_TAG = "!override"


class Loc(NamedTuple):
    """Where something was written: file, 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Loc("<unknown>", 0, 0)


class LDict(dict[str, Any]):
    """A mapping with the location of itself, of each key and of each value."""

    __slots__ = ("loc", "key_locs", "value_locs", "tag")

    def __init__(self, loc: Loc = NOWHERE) -> None:
        super().__init__()
        self.loc = loc
        self.key_locs: dict[str, Loc] = {}
        self.value_locs: dict[str, Loc] = {}
        self.tag: str | None = None

    def put(self, key: str, value: Any, key_loc: Loc, value_loc: Loc) -> None:
        self[key] = value
        self.key_locs[key] = key_loc
        self.value_locs[key] = value_loc

    def key_at(self, key: str) -> Loc:
        return self.key_locs.get(key, self.loc)

    def value_at(self, key: str) -> Loc:
        return self.value_locs.get(key, self.key_at(key))

    def copy_from(self, other: "LDict", key: str, value: Any | None = None) -> None:
        """Sets `key` to `value` (default: other's) keeping other's locations for it."""
        self.put(key, other[key] if value is None else value, other.key_at(key), other.value_at(key))

    def without(self, *keys: str) -> "LDict":
        out = LDict(self.loc)
        for k in self:
            if k not in keys:
                out.copy_from(self, k)
        return out


class LList(list[Any]):
    """A sequence with the location of itself and of each item."""

    __slots__ = ("loc", "item_locs", "tag")

    def __init__(self, loc: Loc = NOWHERE) -> None:
        super().__init__()
        self.loc = loc
        self.item_locs: list[Loc] = []
        self.tag: str | None = None

    def add(self, value: Any, loc: Loc) -> None:
        self.append(value)
        self.item_locs.append(loc)

    def at(self, index: int) -> Loc:
        return self.item_locs[index] if 0 <= index < len(self.item_locs) else self.loc


class Reset:
    """`!reset`: removes the value inherited from an earlier file or `extends`."""

    def __init__(self, loc: Loc) -> None:
        self.loc = loc


def loc_of(container: Any, key: str | int) -> Loc:
    """The location of `container[key]`'s value, or of the container when unknown."""
    if isinstance(container, LDict) and isinstance(key, str):
        return container.value_at(key)
    if isinstance(container, LList) and isinstance(key, int):
        return container.at(key)
    return getattr(container, "loc", NOWHERE)


def key_loc(container: Any, key: str | int) -> Loc:
    if isinstance(container, LDict) and isinstance(key, str):
        return container.key_at(key)
    return loc_of(container, key)


def locate(root: Any, path: tuple[str | int, ...] | list[Any], *, key: bool = False) -> Loc:
    """The location of the value (or key) at `path`, or of its nearest located ancestor."""
    cur = root
    best: Loc = getattr(root, "loc", NOWHERE)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(cur, LDict) and isinstance(part, str) and part in cur:
            best = cur.key_at(part) if (last and key) else cur.value_at(part)
            cur = cur[part]
        elif isinstance(cur, LList) and isinstance(part, int) and 0 <= part < len(cur):
            best = cur.at(part)
            cur = cur[part]
        else:
            break
    return best


def typed_scalar(text: str) -> Any:
    """A plain scalar typed by the YAML 1.2 core schema (compose-go's yaml.v3 rules)."""
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if _INT.match(text):
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text)
    if _FLOAT.match(text):
        low = text.lower()
        if low.endswith("inf"):
            return float("-inf") if low.startswith("-") else float("inf")
        if low.endswith("nan"):
            return float("nan")
        return float(text)
    return text


class _Builder:
    """Composed YAML nodes to LDict/LList/scalars, with `<<` merges and a size budget."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.budget = MAX_NODES
        self.problems: list[Problem] = []

    def loc(self, node: yaml.Node) -> Loc:
        return Loc(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: str = "", depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise ManifestError([Problem(path, f"the document expands to more than {MAX_NODES} values (aliases nested too deep?)", self.file, *self.loc(node)[1:])])
        if depth > MAX_DEPTH:
            raise ManifestError([Problem(path, f"nested more than {MAX_DEPTH} levels deep; not a compose file", self.file, *self.loc(node)[1:])])
        if node.tag == RESET_TAG:
            return Reset(self.loc(node))
        if isinstance(node, yaml.MappingNode):
            out = self._mapping(node, path, depth)
            out.tag = OVERRIDE_TAG if node.tag == OVERRIDE_TAG else None
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = LList(self.loc(node))
            seq.tag = OVERRIDE_TAG if node.tag == OVERRIDE_TAG else None
            for i, item in enumerate(node.value):
                seq.add(self.build(item, f"{path}[{i}]", depth + 1), self.loc(item))
            return seq
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.style in ("'", '"', "|", ">"):
            return node.value
        if node.tag in ("tag:yaml.org,2002:str", OVERRIDE_TAG) and node.value not in ("",) and not _looks_implicit(node):
            return node.value  # an explicit !!str
        if node.tag == "tag:yaml.org,2002:binary":
            return node.value
        return typed_scalar(node.value)

    def _mapping(self, node: yaml.MappingNode, path: str, depth: int = 0) -> LDict:
        out = LDict(self.loc(node))
        merged: list[tuple[str, Any, Loc, Loc]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(path, "mapping keys must be text", self.file, *self.loc(key_node)[1:]))
                continue
            raw = self._scalar(key_node)
            key = ("true" if raw else "false") if isinstance(raw, bool) else ("null" if raw is None else str(raw))
            sub = f"{path}.{key}" if path else key
            if key in out:
                first = out.key_at(key)
                self.problems.append(Problem(sub, f"duplicate key `{key}` (first defined at line {first.line})", self.file, *self.loc(key_node)[1:]))
                continue
            out.put(key, self.build(value_node, sub, depth + 1), self.loc(key_node), self.loc(value_node))
        for key, value, kloc, vloc in merged:  # explicit keys win over merged ones
            if key not in out:
                out.put(key, value, kloc, vloc)
        return out

    def _merge_sources(self, node: yaml.Node, path: str, depth: int) -> Iterator[tuple[str, Any, Loc, Loc]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        seen: set[str] = set()
        for src in sources:  # in a `<<: [*a, *b]` list the first mapping wins
            if not isinstance(src, yaml.MappingNode):
                self.problems.append(Problem(path, "`<<` merges mappings only (an alias of a mapping, or a list of them)", self.file, *self.loc(src)[1:]))
                continue
            built = self._mapping(src, path, depth)
            for key in built:
                if key not in seen:
                    seen.add(key)
                    yield key, built[key], built.key_at(key), built.value_at(key)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int], file: str, depth: int = 0) -> int:
    """How many values `node` becomes once every alias is expanded (memoised, so an alias
    bomb is measured in the time its few distinct nodes take)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise ManifestError([Problem("", "an alias refers to the mapping or list it is in (a recursive alias)", file, node.start_mark.line + 1, node.start_mark.column + 1)])
    if depth > MAX_DEPTH:
        raise ManifestError([Problem("", f"nested more than {MAX_DEPTH} levels deep; not a compose file", file, node.start_mark.line + 1, node.start_mark.column + 1)])
    active.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, sizes, active, file, depth + 1) + _expanded_size(v, sizes, active, file, depth + 1)
            if total > MAX_NODES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _expanded_size(item, sizes, active, file, depth + 1)
            if total > MAX_NODES:
                break
    active.discard(key)
    sizes[key] = total
    return total


def _looks_implicit(node: yaml.ScalarNode) -> bool:
    """True when PyYAML's resolver (not the author) chose the `str` tag."""
    return bool(typed_scalar(node.value) == node.value)


def load_yaml(text: str, file: str) -> Any:
    """The document in `text` as located values; ManifestError with positions when invalid."""
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader_cls)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ManifestError([Problem("", f"invalid YAML: {exc.problem or exc.context}", file, line, col)]) from None
    except yaml.YAMLError as exc:
        raise ManifestError([Problem("", f"invalid YAML: {exc}", file, 1, 1)]) from None
    if node is None:
        return LDict(Loc(file, 1, 1))
    size = _expanded_size(node, {}, set(), file)
    if size > MAX_NODES:
        raise ManifestError([Problem("", f"the document expands to more than {MAX_NODES} values (aliases nested too deep?)", file, 1, 1)])
    builder = _Builder(file)
    value = builder.build(node)
    if builder.problems:
        raise ManifestError(builder.problems)
    return value


def plain(value: Any) -> Any:
    """Located values as ordinary dicts and lists (for dumping and comparing)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
