"""Writes converted manifest data as a readable portable.yaml, with a comment on each
value that was approximated, in the manifest's usual layout (flow style for short lists).

Every `$` in a value is written as `$$`: values come out of compose already interpolated,
and the portable loader must not interpolate them a second time.
"""
from __future__ import annotations

import json
import re
from typing import Any

import yaml

from portable.compose.findings import Conversion
from portable.compose.located import typed_scalar

_PLAIN = re.compile(r"^[A-Za-z0-9_./@+~-][A-Za-z0-9_./@+~ :=-]*$")
_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


class Octal(int):
    """A file mode, written the way the manifest reads it back (`0644`)."""


def _special(text: str) -> bool:
    """True when a plain scalar would not read back as this text (YAML 1.1 or 1.2 typing)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag != _STR or typed_scalar(text) != text or bool(re.match(r"^[0-9]{4}-", text))
_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")


def scalar(value: Any, flow: bool = False) -> str:
    """One value as YAML text that reads back as the same value (and the same type)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Octal):
        return f"0{int(value):o}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else json.dumps(str(value))
    text = str(value).replace("$", "$$")
    if text and _PLAIN.match(text) and not (flow and ":" in text) and not _special(text) and not text.endswith((" ", ":")) and ": " not in text and " #" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _key(key: str) -> str:
    return key if _KEY.match(key) and not _special(key) else json.dumps(key)


def _is_flat(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)


def _flow(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    return scalar(value, flow=True)


def _short_mapping(value: Any) -> bool:
    return isinstance(value, dict) and len(value) <= 4 and all(not isinstance(v, (dict, list)) and not (isinstance(v, str) and "\n" in v) for v in value.values())


class _Writer:
    def __init__(self, comments: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.comments = comments

    def line(self, text: str, path: str) -> None:
        note = self.comments.get(path)
        self.lines.append(f"{text}  # approximated: {note}" if note else text)

    def mapping(self, data: dict[str, Any], indent: int, path: str) -> None:
        pad = " " * indent
        for key, value in data.items():
            sub = f"{path}.{key}" if path else key
            head = f"{pad}{_key(key)}:"
            if isinstance(value, dict):
                if not value:
                    self.line(f"{head} {{}}", sub)
                elif _short_mapping(value) and indent >= 4:
                    self.line(f"{head} {_flow(value)}", sub)
                else:
                    self.line(head, sub)
                    self.mapping(value, indent + 2, sub)
            elif isinstance(value, list):
                if not value:
                    self.line(f"{head} []", sub)
                elif _is_flat(value) and len(_flow(value)) <= 100:
                    self.line(f"{head} {_flow(value)}", sub)
                else:
                    self.line(head, sub)
                    self.sequence(value, indent + 2, sub)
            elif isinstance(value, str) and "\n" in value:
                self.line(f"{head} {_block(value, indent + 2)}", sub)
            else:
                self.line(f"{head} {scalar(value)}", sub)

    def sequence(self, items: list[Any], indent: int, path: str) -> None:
        pad = " " * indent
        for i, item in enumerate(items):
            sub = f"{path}[{i}]"
            if isinstance(item, dict) and _short_mapping(item):
                self.line(f"{pad}- {_flow(item)}", sub)
            elif isinstance(item, dict):
                first = True
                for key, value in item.items():
                    prefix = f"{pad}- " if first else f"{pad}  "
                    first = False
                    if isinstance(value, (dict, list)) and value and not (_is_flat(value) or _short_mapping(value)):
                        self.line(f"{prefix}{_key(key)}:", sub if prefix.endswith("- ") else f"{sub}.{key}")
                        if isinstance(value, dict):
                            self.mapping(value, indent + 4, f"{sub}.{key}")
                        else:
                            self.sequence(value, indent + 4, f"{sub}.{key}")
                    elif isinstance(value, str) and "\n" in value:
                        self.line(f"{prefix}{_key(key)}: {_block(value, indent + 4)}", sub if prefix.endswith("- ") else f"{sub}.{key}")
                    else:
                        self.line(f"{prefix}{_key(key)}: {_flow(value)}", sub if prefix.endswith("- ") else f"{sub}.{key}")
            else:
                self.line(f"{pad}- {_flow(item)}", sub)


def _block(text: str, indent: int) -> str:
    """A multi-line string as a literal block (`|`, `|-` or `|+`), `$` doubled."""
    body = text.replace("$", "$$")
    if body.strip("\n") != body.strip("\n").lstrip(" ") or "\t" in body or "\r" in body:
        return json.dumps(body, ensure_ascii=False)  # leading spaces or tabs: keep it exact
    chomp = "-" if not body.endswith("\n") else ("+" if body.endswith("\n\n") else "")
    pad = " " * indent
    lines = body.split("\n")
    if body.endswith("\n"):
        lines = lines[:-1]
    return f"|{chomp}\n" + "\n".join(f"{pad}{ln}" if ln else "" for ln in lines)


def manifest_text(conv: Conversion, header: str | None = None) -> str:
    """The conversion as portable.yaml text (comments on approximated values)."""
    w = _Writer(conv.comments)
    if header:
        w.lines.extend(f"# {h}" if h else "#" for h in header.splitlines())
    w.mapping(conv.data, 0, "")
    return "\n".join(w.lines) + "\n"
