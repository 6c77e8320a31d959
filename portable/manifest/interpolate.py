"""`${VAR}` interpolation with compose's rules, from the environment and a `.env` file.

Supported: `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
`${VAR:?message}` / `${VAR?message}` (required), and `$$` for a literal `$`.
The process environment wins over `.env`, as with docker compose.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

_NAME = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?$", re.DOTALL)


class InterpolationError(ValueError):
    """A `${...}` that cannot be resolved; the message is meant for the user."""


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file; comments, blank lines and `export ` prefixes allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def environment_for(manifest: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a manifest sees: `.env` beside it, overridden by the process environment."""
    merged = read_dotenv(manifest.parent / ".env")
    merged.update(os.environ if env is None else env)
    return merged


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing the `${` whose body starts at `start` (nesting allowed)."""
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


def interpolate(text: str, env: Mapping[str, str], warnings: list[str] | None = None) -> str:
    """`text` with every reference replaced; raises InterpolationError for `${VAR:?}` and bad syntax.

    Defaults may themselves hold references: `${IMAGE:-${REGISTRY}/web:1}`.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if not text.startswith("${", i):
            out.append(text[i])
            i += 1
            continue
        end = _closing_brace(text, i + 2)
        body = text[i + 2 : end] if end >= 0 else text[i + 2 :]
        m = _NAME.match(body)
        if end < 0 or m is None:
            raise InterpolationError(f"invalid interpolation {text[i:end + 1] if end >= 0 else text[i:]!r}: expected ${{NAME}}, ${{NAME:-default}} or ${{NAME:?message}}")
        out.append(_resolve(m.group("name"), m.group("op"), m.group("arg") or "", env, warnings))
        i = end + 1
    return "".join(out)


def _resolve(name: str, op: str | None, arg: str, env: Mapping[str, str], warnings: list[str] | None) -> str:
    value = env.get(name)
    missing = (not value) if op in (":-", ":?") else value is None
    if not missing:
        return value or ""
    if op in (":-", "-"):
        return interpolate(arg, env, warnings)
    if op in (":?", "?"):
        raise InterpolationError(f"required variable {name} is not set" + (f": {arg}" if arg else ""))
    if warnings is not None:
        warnings.append(f"variable {name} is not set; using an empty string")
    return ""
