"""Parsing of the human units a manifest uses: durations, memory/disk sizes and CPU amounts.

Kept apart from the model so providers can convert to their own units (nanoseconds for
Docker, `500m` for Kubernetes, GiB for EBS) from one exact value.
"""
from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T|k|B)?$")
_SIZE_SCALE = {
    None: 1, "B": 1,
    "K": 1000, "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
}
_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m)?$")


def parse_duration(value: str | int | float) -> float:
    """Seconds from `30s`, `1m30s`, `500ms`, `2h` or a bare number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = str(value).strip()
    if not _DURATION.match(text):
        raise ValueError(f"expected a duration like 10s, 1m30s or 500ms, got {value!r}")
    return sum(float(n) * _DURATION_SCALE[u] for n, u in _DURATION_PART.findall(text))


def parse_size(value: str | int) -> int:
    """Bytes from `512Mi`, `1Gi`, `100M` or a bare number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    m = _SIZE.match(str(value).strip())
    if not m:
        raise ValueError(f"expected a size like 256Mi, 1Gi or 500M, got {value!r}")
    return int(float(m.group(1)) * _SIZE_SCALE[m.group(2)])


def parse_cpu(value: str | int | float) -> float:
    """CPU cores from `0.5`, `2`, or Kubernetes-style millicores `500m`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("cpu must be greater than 0")
        return float(value)
    m = _CPU.match(str(value).strip())
    if not m:
        raise ValueError(f"expected cpu cores like 0.5, 2 or 500m, got {value!r}")
    cores = float(m.group(1)) / (1000 if m.group(2) else 1)
    if cores <= 0:
        raise ValueError("cpu must be greater than 0")
    return cores


def format_millicores(cores: float) -> str:
    """Kubernetes quantity for a number of cores: 0.5 -> `500m`, 2 -> `2`."""
    milli = round(cores * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_mebibytes(size: int) -> str:
    """Kubernetes quantity in Mi (rounded up) for a number of bytes."""
    mib = -(-size // (1024 * 1024))
    return f"{mib}Mi"
