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

from portable.errors import InputError

_NAME = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?$", re.DOTALL)


class InterpolationError(ValueError):
    """A `${...}` that cannot be resolved; the message is meant for the user."""


_DOTENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_DOUBLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$$"}


def read_dotenv(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of a `.env` file, read with docker compose's rules (docs/manifest.md).

    `KEY=VALUE` lines, `export ` allowed; `#` lines and blank lines skipped; a UTF-8 byte order
    mark ignored. Unquoted values end at ` #` (an inline comment) and are trimmed; single
    quotes keep the text exactly; double quotes read `\\n \\t \\" \\\\` escapes and may span
    lines. Unquoted and double-quoted values expand `${VAR}` from the lines above and the
    environment (which wins). A line without `=` is ignored, as compose does.
    """
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DotenvError(f"{path}: cannot read the .env file: {exc.strerror or exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = data[: exc.start].count(b"\n") + 1
        raise DotenvError(f"{path}:{at}: the .env file is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8") from None
    env = os.environ if environ is None else environ
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[7:].lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not sep:
            continue
        if not _DOTENV_NAME.fullmatch(key):
            raise DotenvError(f"{path}:{number}: {key!r} is not a variable name (letters, digits, '_', '.' and '-', not starting with a digit)")
        rest = rest.lstrip()
        lookup = {**values, **env}
        try:
            if rest[:1] == "'":
                value, i = _quoted(rest, "'", lines, i, path, number)
            elif rest[:1] == '"':
                raw, i = _quoted(rest, '"', lines, i, path, number)
                value = interpolate(_unescape(raw), lookup)
            else:
                value = interpolate(_strip_comment(rest), lookup)
        except InterpolationError as exc:
            raise DotenvError(f"{path}:{number}: {exc}") from None
        values[key] = value
    return values


class DotenvError(InputError):
    """A `.env` file that cannot be read; the message names the file and line."""


def _strip_comment(value: str) -> str:
    """An unquoted value without its inline comment (`#` after whitespace, as in compose)."""
    m = re.search(r"\s#", value)
    return (value[: m.start()] if m else value).strip()


def _quoted(rest: str, quote: str, lines: list[str], i: int, path: Path, number: int) -> tuple[str, int]:
    """The text between `quote`s starting at `rest`, which may go on over the next lines."""
    body = rest[1:]
    while True:
        end = _closing_quote(body, quote)
        if end >= 0:
            return body[:end], i
        if i >= len(lines):
            raise DotenvError(f"{path}:{number}: the value opened with {quote} is never closed")
        body += "\n" + lines[i]
        i += 1


def _closing_quote(body: str, quote: str) -> int:
    j = 0
    while j < len(body):
        if quote == '"' and body[j] == "\\":
            j += 2
            continue
        if body[j] == quote:
            return j
        j += 1
    return -1


def _unescape(raw: str) -> str:
    """Double-quoted escapes; `\\$` becomes `$$`, so interpolation leaves one literal `$`."""
    return re.sub(r"\\(.)", lambda m: _DOUBLE_ESCAPES.get(m.group(1), m.group(0)), raw)


def environment_for(manifest: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a manifest sees: `.env` beside it, overridden by the process environment."""
    environ = os.environ if env is None else env
    merged = read_dotenv(manifest.parent / ".env", environ)
    merged.update(environ)
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


MAX_NESTING = 10  # defaults inside defaults; real manifests use two or three


def interpolate(text: str, env: Mapping[str, str], warnings: list[str] | None = None, _depth: int = 0) -> str:
    """`text` with every reference replaced; raises InterpolationError for `${VAR:?}` and bad syntax.

    Defaults may themselves hold references: `${IMAGE:-${REGISTRY}/web:1}` (at most
    MAX_NESTING deep, so a hostile value cannot exhaust the stack).
    """
    if _depth > MAX_NESTING:
        raise InterpolationError(f"${{...}} defaults are nested deeper than {MAX_NESTING} levels")
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
        m = _NAME.fullmatch(body)
        if end < 0 or m is None:
            bad = text[i:end + 1] if end >= 0 else text[i:]
            shown = repr(bad) if len(bad) <= 60 else repr(bad[:57]) + "..."
            raise InterpolationError(f"invalid interpolation {shown}: expected ${{NAME}}, ${{NAME:-default}} or ${{NAME:?message}}")
        out.append(_resolve(m.group("name"), m.group("op"), m.group("arg") or "", env, warnings, _depth))
        i = end + 1
    return "".join(out)


def _resolve(name: str, op: str | None, arg: str, env: Mapping[str, str], warnings: list[str] | None, depth: int) -> str:
    value = env.get(name)
    missing = (not value) if op in (":-", ":?") else value is None
    if not missing:
        return value or ""
    if op in (":-", "-"):
        return interpolate(arg, env, warnings, depth + 1)
    if op in (":?", "?"):
        raise InterpolationError(f"required variable {name} is not set" + (f": {arg}" if arg else ""))
    if warnings is not None:
        warnings.append(f"variable {name} is not set; using an empty string")
    return ""
