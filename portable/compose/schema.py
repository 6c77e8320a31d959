"""Validation of one compose file against the compose-spec JSON Schema, with positions.

`compose-spec.json` is the schema docker compose v2.40.3 validates against (compose-go
v2.9.1's `schema/compose-spec.json`, Apache-2.0, see NOTICE beside it), so a file
this importer accepts is a file compose accepts. Errors are reported at the offending
key or value, with the field path and, for a misspelt key, the closest allowed one.
"""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from portable.compose.located import Reset, locate
from portable.errors import ManifestError, Problem

SCHEMA_FILE = Path(__file__).with_name("compose-spec.json")


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # type: ignore[import-untyped]

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)  # the file says draft-07 (in a spelling jsonschema does not look up)


def _dotted(path: list[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out


def _best(error: Any) -> Any:
    """For `oneOf` failures, the branch error that went deepest (the most specific one)."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        deepest = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
        if len(deepest.absolute_path) > len(error.absolute_path) or deepest.validator == "additionalProperties":
            return _best(deepest)
    return error


def _message(error: Any) -> tuple[str, list[Any], bool, str | None]:
    """(what was expected, where, whether the location is a key, hint) for one schema error."""
    path = list(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed and not k.startswith("x-")]
        name = extra[0] if extra else "?"
        close = difflib.get_close_matches(name, allowed, n=1)
        return f"unknown key `{name}` (not in the compose specification)", path + [name], True, (f"did you mean `{close[0]}`?" if close else None)
    if kind == "type":
        want = error.validator_value
        want_text = " or ".join(want) if isinstance(want, list) else want
        return f"expected {want_text}, got {_type_name(error.instance)} {error.instance!r}", path, False, None
    if kind in ("oneOf", "anyOf"):
        shapes = sorted({_shape(s) for s in error.validator_value})
        return f"expected {' or '.join(shapes)}, got {_type_name(error.instance)} {_short(error.instance)}", path, False, None
    if kind == "enum":
        return f"expected one of {', '.join(map(str, error.validator_value))}, got {error.instance!r}", path, False, None
    if kind == "required":
        return error.message.replace("'", "`"), path, False, None
    if kind == "uniqueItems":
        return "items must be unique (an entry is repeated)", path, False, None
    if kind == "pattern":
        return f"{error.instance!r} does not match the expected form", path, False, None
    return error.message, path, False, None


def _shape(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1].replace("_", " ")
    t = schema.get("type", "value")
    return " or ".join(t) if isinstance(t, list) else str(t)


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    names: dict[type, str] = {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else ("{...}" if isinstance(value, dict) else "[...]")
    return text if len(text) < 60 else text[:57] + "..."


def validate(document: Any, file: str) -> None:
    """Raises ManifestError listing every schema problem of `document` (located values)."""
    if not isinstance(document, dict):
        raise ManifestError([Problem("", "a compose file must be a mapping (with `services:`)", file, 1, 1)])
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        if isinstance(error.instance, Reset):
            continue  # `!reset` stands for "no value", which every key accepts
        message, path, is_key, hint = _message(_best(error))
        dotted = _dotted(path)
        if (dotted, message) in seen:
            continue
        seen.add((dotted, message))
        loc = locate(document, path, key=is_key)
        problems.append(Problem(dotted, message, loc.file if loc.line else file, loc.line or 1, loc.col or 1, hint))
    if problems:
        raise ManifestError(problems)
