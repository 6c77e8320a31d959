"""The manifest's JSON Schema, generated from the model and checked in for editors.

`python -m portable.manifest.schema` rewrites manifests/schema/portable-v1.schema.json; a
test fails when the checked-in file is stale, and another runs every valid manifest of the
repository through both the loader and the schema.

Editors see the file as written, before interpolation, so wherever the loader reads a
scalar the schema also accepts text holding `${...}` (`replicas: ${N:-2}`); the short forms
the loader accepts (`build: ./web`, a string `command`) come from the model itself.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from portable.manifest.model import Manifest

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "manifests" / "schema" / "portable-v1.schema.json"


INTERPOLATED: dict[str, Any] = {"type": "string", "pattern": r"\$\{", "description": "text with ${VAR} interpolation, checked after it is resolved"}
_SCALAR_TYPES = {"string", "integer", "number", "boolean"}
_META = ("title", "description", "default", "examples")


def _is_scalar(node: dict[str, Any]) -> bool:
    return node.get("type") in _SCALAR_TYPES or "enum" in node or "const" in node


def _is_plain_text(node: dict[str, Any]) -> bool:
    return node.get("type") == "string" and not ({"pattern", "enum", "const", "minLength", "maxLength", "format"} & set(node))


def _loosen(node: Any) -> Any:
    """`node` accepting `${...}` text wherever it takes a constrained scalar (see module doc)."""
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for key in ("properties", "patternProperties", "$defs"):
        if key in node:
            node[key] = {k: _loosen(v) for k, v in node[key].items()}
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _loosen(node["additionalProperties"])
    if "patternProperties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False  # keys outside the pattern are refused by the loader
    if "items" in node:
        node["items"] = _loosen(node["items"])
    if "anyOf" in node:
        alternatives = [_loosen(a) for a in node["anyOf"]]
        if any(_is_scalar(a) for a in alternatives) and not any(_is_plain_text(a) for a in alternatives):
            alternatives.append(INTERPOLATED)
        node["anyOf"] = alternatives
        return node
    if _is_scalar(node) and not _is_plain_text(node):
        meta = {k: node.pop(k) for k in _META if k in node}
        return {**meta, "anyOf": [node, INTERPOLATED]}
    return node


def manifest_schema() -> dict[str, Any]:
    schema: dict[str, Any] = _loosen(Manifest.model_json_schema(by_alias=True, mode="validation"))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://portable.dev/schema/portable-v1.schema.json"
    schema["title"] = "portable application manifest (portable/v1)"
    return schema


def schema_text() -> str:
    return json.dumps(manifest_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(schema_text())
    print(out)


if __name__ == "__main__":
    main()
