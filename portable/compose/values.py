"""Compose's value syntaxes read into the portable model's: sizes, durations, commands, names.

Compose follows Docker's conventions (memory `512m` is MiB, durations are Go durations
such as `1m30s` or `500ms`, a string command is split like a shell); the portable model
has its own spelling of each, so every conversion is in one place and tested alone.
"""
from __future__ import annotations

import re
import shlex
from typing import Any

_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)b?$", re.IGNORECASE)
_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_SCALE = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PORTABLE_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")


def memory_bytes(value: Any) -> int:
    """Bytes from compose's `512m`, `1g`, `1.5G`, `1024k`, `536870912` (powers of 1024)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like 512m or 1g, got {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    m = _MEMORY.match(str(value).strip())
    if not m:
        raise ValueError(f"expected a size like 512m or 1g, got {value!r}")
    scale = 1024 ** " kmgtp".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * scale)


def portable_size(size: int) -> str | int:
    """A byte count in the manifest's units: `512Mi`, `1Gi`, `64Ki`, or plain bytes."""
    for unit, scale in (("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size and size % scale == 0:
            return f"{size // scale}{unit}"
    return size


def duration_seconds(value: Any) -> float:
    """Seconds from a Go duration (`1m30s`, `500ms`, `10us`) or a bare number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if not _GO_DURATION.match(text):
        raise ValueError(f"expected a duration like 10s, 1m30s or 500ms, got {value!r}")
    return sum(float(n) * _GO_SCALE[u] for n, u in _GO_PART.findall(text))


def portable_duration(value: Any) -> str:
    """The duration as the manifest writes it; compose's own text when it already fits."""
    text = str(value).strip()
    if _PORTABLE_DURATION.match(text):
        return text
    seconds = duration_seconds(value)
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


def argv(value: Any) -> list[str]:
    """A compose command or entrypoint as an argument list (a string split like a shell)."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return shlex.split(str(value))


def text(value: Any) -> str:
    """Environment and label values as containers see them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def dns_label(name: str, limit: int = 63) -> str:
    """A compose name (`[a-zA-Z0-9._-]+`) as a DNS-1123 label: `My_DB.1` -> `my-db-1`."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    label = re.sub(r"-{2,}", "-", label)[:limit].strip("-")
    return label or "x"


def key_value_pairs(value: Any) -> list[tuple[str, str | None, int]]:
    """`environment`-style values as (key, value or None when only the key is given, index)."""
    out: list[tuple[str, str | None, int]] = []
    if isinstance(value, dict):
        for i, (k, v) in enumerate(value.items()):
            out.append((str(k), None if v is None else text(v), i))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            k, sep, v = str(item).partition("=")
            out.append((k, v if sep else None, i))
    return out
