"""`json.dumps(doc, indent=2, sort_keys=True)`, byte for byte, several times faster.

The standard library only uses its C encoder without `indent`; with it, every value goes through
nested Python generators. A VM target's render of 1,000 services writes hundreds of thousands of
strings (specs, tags, base64 guestinfo), a large part of a render's time. This writes the same text with
one recursive function and the C encoder for every list of plain values and every mapping of
plain values under text keys; tests/unit/test_pretty_json.py compares it with
json.dumps on the rendered goldens and on generated documents.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import Any

_NESTED = (dict, list, tuple)
_PLAIN = {str, int, float, bool, type(None)}  # exact types: a list of only these is one C encoder call


def dumps(doc: Any) -> str:
    """The text json.dumps(doc, indent=2, sort_keys=True) returns."""
    out: list[str] = []
    _write(doc, out, "\n")
    return "".join(out)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return str(encode_basestring_ascii(value))
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)  # true/false/null, int and float reprs, NaN/Infinity as json does
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _write(value: Any, out: list[str], newline: str) -> None:
    """Appends `value`; `newline` is "\\n" plus the indentation of the line `value` starts on."""
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        if all(type(k) is str for k in value) and set(map(type, value.values())) <= _PLAIN:
            # extraConfig, tags, env: a flat mapping is one call of the C encoder too
            body = json.dumps(value, sort_keys=True, separators=("," + inner, ": "))[1:-1]
            out.append("{" + inner + body + newline + "}")
            return
        out.append("{")
        first = True
        for key in sorted(value):
            out.append(inner if first else "," + inner)
            first = False
            out.append(_key(key))
            out.append(": ")
            item = value[key]
            if isinstance(item, _NESTED):
                _write(item, out, inner)
            else:
                out.append(_scalar(item))
        out.append(newline + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        if set(map(type, value)) <= _PLAIN:
            # peers, env lists: one call of the C encoder, the line break and indent as separator
            body = json.dumps(value, separators=("," + inner, ": "))[1:-1]
            out.append("[" + inner + body + newline + "]")
            return
        out.append("[")
        first = True
        for item in value:
            out.append(inner if first else "," + inner)
            first = False
            if isinstance(item, _NESTED):
                _write(item, out, inner)
            else:
                out.append(_scalar(item))
        out.append(newline + "]")
    else:
        out.append(_scalar(value))


def _key(key: Any) -> str:
    """Keys as json writes them: strings escaped, numbers/booleans/None as their JSON text in quotes."""
    if isinstance(key, str):
        return str(encode_basestring_ascii(key))
    if key is None or isinstance(key, (bool, int, float)):
        return str(encode_basestring_ascii(json.dumps(key)))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
