"""Compose's variable interpolation and `.env` files, as the compose-spec defines them.

Kept apart from the portable manifest's interpolation because compose accepts more:
unbraced `$VAR`, `${VAR:+replacement}` / `${VAR+replacement}`, and `.env` values that
themselves interpolate earlier variables. Errors name the variable, so a user knows
which one to set.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from portable.compose.located import LDict, LList, Loc
from portable.errors import ManifestError, Problem

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.DOTALL)


class InterpolationFailure(ValueError):
    """A reference that cannot be resolved; the message names the variable."""


def _closing(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def interpolate_text(text: str, env: Mapping[str, str], unset: list[str]) -> str:
    """`text` with `$VAR`, `${VAR...}` and `$$` resolved; names of unset variables go to `unset`."""
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "$":
            j = text.find("$", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
            continue
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if text.startswith("${", i):
            end = _closing(text, i + 2)
            if end < 0:
                raise InterpolationFailure(f"invalid interpolation format for {text[i:]!r}: a `${{` is never closed")
            body = text[i + 2:end]
            m = _BRACED.match(body)
            if m is None:
                raise InterpolationFailure(f"invalid interpolation format for {text[i:end + 1]!r}: expected ${{NAME}}, ${{NAME:-default}}, ${{NAME:?error}} or ${{NAME:+replacement}}")
            out.append(_resolve(m.group("name"), m.group("op"), m.group("arg") or "", env, unset))
            i = end + 1
            continue
        m2 = _BARE.match(text, i + 1)
        if m2 is None:
            out.append("$")  # a lone `$` (e.g. before a digit) is kept, as compose does
            i += 1
            continue
        out.append(_resolve(m2.group(0), None, "", env, unset))
        i = m2.end()
    return "".join(out)


def _resolve(name: str, op: str | None, arg: str, env: Mapping[str, str], unset: list[str]) -> str:
    value = env.get(name)
    if op in (":+", "+"):
        present = bool(value) if op == ":+" else value is not None
        return interpolate_text(arg, env, unset) if present else ""
    missing = (not value) if op in (":-", ":?") else value is None
    if not missing:
        return value or ""
    if op in (":-", "-"):
        return interpolate_text(arg, env, unset)
    if op in (":?", "?"):
        detail = interpolate_text(arg, env, unset) if arg else ""
        raise InterpolationFailure(f"required variable {name} is missing a value" + (f": {detail}" if detail else ""))
    unset.append(name)
    return ""


def interpolate_tree(value: Any, env: Mapping[str, str], file: str, warnings: list[tuple[Loc, str, str]], path: str = "") -> Any:
    """Every string value of a located tree interpolated in place; keys are left as written.

    Values stay text (`VERSION: ${V}` with V=2.0 is "2.0"); the converter reads numbers
    where compose's fields are numbers. Unset variables without a default become empty with
    a warning.
    """
    problems: list[Problem] = []

    def walk(node: Any, where: str, loc: Loc) -> Any:
        if isinstance(node, LDict):
            for key in list(node):
                sub = f"{where}.{key}" if where else key
                node[key] = walk(node[key], sub, node.value_at(key))
            return node
        if isinstance(node, LList):
            for i in range(len(node)):
                node[i] = walk(node[i], f"{where}[{i}]", node.at(i))
            return node
        if isinstance(node, str) and "$" in node:
            unset: list[str] = []
            try:
                text = interpolate_text(node, env, unset)
            except InterpolationFailure as exc:
                problems.append(Problem(where, str(exc), loc.file, loc.line, loc.col))
                return node
            for name in unset:
                warnings.append((loc, where, f"variable {name} is not set; using an empty string"))
            return text  # stays text, as compose keeps it: numeric fields convert where they are read
        return node

    out = walk(value, path, getattr(value, "loc", Loc(file, 1, 1)))
    if problems:
        raise ManifestError(problems)
    return out


def read_env_file(path: Path, env: Mapping[str, str], *, interpolate: bool = True) -> dict[str, str]:
    """KEY=VALUE lines as compose reads them: comments, `export `, quotes, and `${VAR}` in values.

    Single-quoted values are literal; double-quoted and unquoted ones interpolate the
    variables defined so far in the file and in `env`. A line `KEY` alone takes the value
    from `env` (or is left out when unset), as compose does.
    """
    out: dict[str, str] = {}
    text = path.read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not _BARE.fullmatch(key) and not re.fullmatch(r"[A-Za-z0-9_.\-]+", key):
            raise ManifestError([Problem("", f"invalid line in env file: {raw.strip()!r} (expected KEY=VALUE)", str(path), number, 1)])
        if not sep:
            if key in env:
                out[key] = env[key]
            continue
        value = value.strip()
        if value[:1] == "'" and value.endswith("'") and len(value) >= 2:
            out[key] = value[1:-1]
            continue
        if value[:1] == '"' and value.endswith('"') and len(value) >= 2:
            value = value[1:-1].replace("\\n", "\n").replace('\\"', '"')
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()  # an inline comment after an unquoted value
        if interpolate and "$" in value:
            try:
                value = interpolate_text(value, {**out, **env}, [])  # the environment wins, as everywhere
            except InterpolationFailure as exc:
                raise ManifestError([Problem(key, str(exc), str(path), number, 1)]) from None
        out[key] = value
    return out
