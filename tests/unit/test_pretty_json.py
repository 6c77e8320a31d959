"""portable.pretty_json writes exactly what json.dumps(indent=2, sort_keys=True) writes: the
rendered files of VM targets (goldens included) must not change by a byte when it replaces it."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from portable import pretty_json

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _same(doc: object) -> None:
    assert pretty_json.dumps(doc) == json.dumps(doc, indent=2, sort_keys=True)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_rendered_goldens_come_out_unchanged(path: Path) -> None:
    text = path.read_text()
    assert pretty_json.dumps(json.loads(text)) + "\n" == text


def test_every_json_value_kind_as_json_writes_it() -> None:
    _same({"b": [1, 2.5, -0.0, 1e-07, 10**30, True, False, None, "é\u2028\"\\\n\t", [], {}, [[]], [{}], ()],
           "a": {"z": {"y": [{"x": "w"}, "v", ["u", 1]]}, "": ""}, "peers": [f"s{i:05d}" for i in range(2000)]})
    _same({"n": {1: "int key", 2.5: "float key"}, "z": {None: "null key"}, "t": {True: "bool key"}})
    _same({"keys": {3: "c", 10: "j", 2: "b"}})  # sorted as numbers before they become strings, as json does
    _same([math.inf, -math.inf, math.nan])
    for scalar in ("x", 0, 1.5, None, True, [], {}):
        _same(scalar)


def test_what_json_refuses_it_refuses() -> None:
    with pytest.raises(TypeError):
        pretty_json.dumps({"a": {1, 2}})
    with pytest.raises(TypeError):
        pretty_json.dumps({"a": b"bytes"})
