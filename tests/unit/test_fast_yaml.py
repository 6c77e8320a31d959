"""portable.fast_yaml writes exactly what PyYAML writes (with libyaml's emitter when present)."""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from portable.fast_yaml import BlockTextDumper, PlainDumper

BASE: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _NoAliases(BASE):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


class _Block(_NoAliases):
    pass


def _block_str(dumper: Any, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Block.add_representer(str, _block_str)

TRICKY = ["", " ", "yes", "no", "on", "null", "~", "true", "1", "01", "1.5", "1e3", "0x1f", "12:30", "2024-01-01",
          "-", "- a", "a: b", "#x", "a #b", "@x", "`x", "'q'", '"q"', "%x", "!x", "&x", "*x", "[x]", "{x}", "x,y",
          "line\nline two\n", "trailing \n", "tab\there", "é ü", "\u2028", "$$HOME", "x" * 200, "a b " * 40]
DOC: dict[str, Any] = {
    "services": {f"s{i}": {"image": "reg.example/x:1", "env": {"K": v, v or "empty": i}, "ports": [8080, "80:80"],
                           "flags": [True, False, None], "nested": [{"a": [v]}, [], {}], "n": -i}
                 for i, v in enumerate(TRICKY)},
    "float": 1.5,
    "tuple_like": [[1, 2], ["x"]],
}


@pytest.mark.parametrize("flow", [False, None])
@pytest.mark.parametrize("sort_keys", [False, True])
def test_plain_dumper_writes_what_pyyaml_writes(flow: bool | None, sort_keys: bool) -> None:
    for ours, theirs in ((PlainDumper, _NoAliases), (BlockTextDumper, _Block)):
        for _ in range(2):  # the second time from the resolver's remembered answers
            got = yaml.dump(DOC, Dumper=ours, sort_keys=sort_keys, default_flow_style=flow)
            assert got == yaml.dump(DOC, Dumper=theirs, sort_keys=sort_keys, default_flow_style=flow)
        assert yaml.safe_load(got) == DOC
    docs = [DOC, {"a": 1}, ["x", {"y": "z\n"}]]
    assert yaml.dump_all(docs, Dumper=BlockTextDumper, sort_keys=sort_keys) == yaml.dump_all(docs, Dumper=_Block, sort_keys=sort_keys)
