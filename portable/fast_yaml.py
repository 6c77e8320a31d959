"""A YAML dumper for plain data (dicts, lists, text, numbers, booleans, null) that writes the
same bytes as `yaml.dump(..., Dumper=CSafeDumper)` in a fraction of the time.

libyaml emits, but PyYAML still represents every value in Python (an alias check, a lookup of
the type's representer and a node per value) and asks the Python resolver, twice per scalar,
whether the text would read back as another type: most of a 1,000-service Docker or
Kubernetes render. This dumper builds the node tree in one recursive function for the plain
types (anything else goes through PyYAML's representers as before) and remembers the
resolver's answers, which depend only on the text (no path resolvers are registered on it).
tests/unit/test_fast_yaml.py compares its output with PyYAML's.
"""
from __future__ import annotations

from typing import Any

import yaml

_BASE: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_RESOLVED: dict[tuple[type, str, tuple[bool, bool]], str] = {}  # (node kind, text, implicit) -> tag


class PlainDumper(_BASE):  # type: ignore[misc]
    """CSafeDumper (SafeDumper without libyaml) without aliases, fast for plain data.

    `block_multiline = True` (a subclass attribute) writes text holding a newline in the
    literal block style `|`, as config files read best."""

    block_multiline = False

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_data(self, data: Any) -> yaml.Node:
        kind = type(data)
        if kind is str:
            style = "|" if self.block_multiline and "\n" in data else self.default_style
            return yaml.ScalarNode(_STR, data, style=style)
        if kind is dict:
            items: Any = data.items()
            if self.sort_keys:
                try:
                    items = sorted(items)
                except TypeError:  # keys of mixed types: kept in order, as PyYAML does
                    items = list(data.items())
            pairs = [(self.represent_data(k), self.represent_data(v)) for k, v in items]
            return yaml.MappingNode(_MAP, pairs, flow_style=self._flow(pairs))
        if kind is list:
            nodes = [self.represent_data(item) for item in data]
            return yaml.SequenceNode(_SEQ, nodes, flow_style=self._flow(nodes))
        if kind is bool:
            return yaml.ScalarNode(_BOOL, "true" if data else "false", style=self.default_style)
        if kind is int:
            return yaml.ScalarNode(_INT, str(data), style=self.default_style)
        if data is None:
            return yaml.ScalarNode(_NULL, "null", style=self.default_style)
        return super().represent_data(data)  # type: ignore[no-any-return]

    def _flow(self, value: list[Any]) -> bool:
        """The flow style PyYAML's represent_mapping/represent_sequence give a collection."""
        if self.default_flow_style is not None:
            return bool(self.default_flow_style)
        nodes = [n for pair in value for n in pair] if value and isinstance(value[0], tuple) else value
        return all(isinstance(n, yaml.ScalarNode) and not n.style for n in nodes)

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]
        key = (kind, value, implicit)
        tag = _RESOLVED.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_RESOLVED) < 200_000:  # bounded: a process rendering many apps stays small
                _RESOLVED[key] = tag
        return tag


class BlockTextDumper(PlainDumper):
    """PlainDumper that writes multi-line text as `|` blocks."""

    block_multiline = True
