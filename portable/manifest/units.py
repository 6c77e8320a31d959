"""Parsing of the human units a manifest uses: durations, memory/disk sizes and CPU amounts.

Kept apart from the model so providers can convert to their own units (nanoseconds for
Docker, `500m` for Kubernetes, GiB for EBS) from one exact value.
"""
from __future__ import annotations

import math
import re

# every pattern is used with fullmatch: `$` alone would also accept a trailing newline
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|s|m|h))+|(\d+(?:\.\d+)?)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T|k|B)?")
_SIZE_SCALE = {
    None: 1, "B": 1,
    "K": 1000, "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
}
_CPU = re.compile(r"(\d+(?:\.\d+)?)(m)?")

# Bounds every target can represent (Docker counts nanoseconds and nano-CPUs in int64,
# Kubernetes probes count seconds in int32); beyond them a value is a typo, not a wish.
MAX_DURATION_S = 24 * 3600.0
MAX_SIZE = 1024**5  # 1 PiB
MAX_CPU = 1024.0
MIN_CPU = 0.001  # 1m, the smallest amount Kubernetes and Docker express


def _shown(value: object) -> str:
    """`value` for a message, cut to a readable length."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return "a number too large to show"
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: int | float, what: str) -> float:
    """A YAML number as a finite float (`.inf`, `.nan` and 1e400 are refused)."""
    number = float(value) if abs(value) < 1e308 else math.inf
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number for {what}, got {_shown(value)}")
    return number


def parse_duration(value: str | int | float) -> float:
    """Seconds from `30s`, `1m30s`, `500ms`, `2h` or a bare number of seconds (at most 24h)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = _number(value, "a duration")
    else:
        text = str(value).strip()
        m = _DURATION.fullmatch(text)
        if not m:
            raise ValueError(f"expected a duration like 10s, 1m30s or 500ms, got {_shown(value)}")
        seconds = float(m.group(3)) if m.group(3) is not None else sum(float(n) * _DURATION_SCALE[u] for n, u in _DURATION_PART.findall(text))
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"a duration must be at most 24h, got {_shown(value)}")
    return seconds


def parse_size(value: str | int) -> int:
    """Bytes from `512Mi`, `1Gi`, `100M` or a bare number of bytes (at most 1 PiB)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        m = _SIZE.fullmatch(str(value).strip())
        if not m:
            raise ValueError(f"expected a size like 256Mi, 1Gi or 500M, got {_shown(value)}")
        size = int(_number(float(m.group(1)), "a size") * _SIZE_SCALE[m.group(2)])
    if size < 0:
        raise ValueError("a size cannot be negative")
    if size > MAX_SIZE:
        raise ValueError(f"a size must be at most 1Pi, got {_shown(value)}")
    return size


def parse_cpu(value: str | int | float) -> float:
    """CPU cores from `0.5`, `2`, or Kubernetes-style millicores `500m` (1m to 1024 cores)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        cores = _number(value, "cpu")
    else:
        m = _CPU.fullmatch(str(value).strip())
        if not m:
            raise ValueError(f"expected cpu cores like 0.5, 2 or 500m, got {_shown(value)}")
        cores = _number(float(m.group(1)), "cpu") / (1000 if m.group(2) else 1)
    if cores <= 0:
        raise ValueError("cpu must be greater than 0")
    if cores < MIN_CPU - 1e-12:
        raise ValueError(f"cpu must be at least 1m (0.001 cores), got {_shown(value)}")
    if cores > MAX_CPU:
        raise ValueError(f"cpu must be at most {MAX_CPU:g} cores, got {_shown(value)}")
    return cores


def format_millicores(cores: float) -> str:
    """Kubernetes quantity for a number of cores: 0.5 -> `500m`, 2 -> `2`."""
    milli = round(cores * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_mebibytes(size: int) -> str:
    """Kubernetes quantity in Mi (rounded up) for a number of bytes."""
    mib = -(-size // (1024 * 1024))
    return f"{mib}Mi"
