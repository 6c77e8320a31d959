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

_REF = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$\{(?P<bad>[^}]*)\}?")


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


def interpolate(text: str, env: Mapping[str, str], warnings: list[str] | None = None) -> str:
    """`text` with every reference replaced; raises InterpolationError for `${VAR:?}` and bad syntax."""

    def replace(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        if m.group("bad") is not None or m.group("name") is None:
            raise InterpolationError(f"invalid interpolation {m.group(0)!r}: expected ${{NAME}}, ${{NAME:-default}} or ${{NAME:?message}}")
        name, op, arg = m.group("name"), m.group("op"), m.group("arg") or ""
        value = env.get(name)
        if op in (":-", ":?"):
            missing = not value
        else:
            missing = value is None
        if not missing:
            return value or ""
        if op in (":-", "-"):
            return interpolate(arg, env, warnings)
        if op in (":?", "?"):
            raise InterpolationError(f"required variable {name} is not set" + (f": {arg}" if arg else ""))
        if warnings is not None:
            warnings.append(f"variable {name} is not set; using an empty string")
        return ""

    return _REF.sub(replace, text)
