"""Field paths as users read them, `services.web.ports[0].port`, and back to their parts.

Kept apart so the loader and the cross-reference checks write paths the same way.
"""
from __future__ import annotations

import json
import re

Path_ = tuple[str | int, ...]


def format_path(path: Path_) -> str:
    """`("services", "web", "ports", 0, "port")` -> `services.web.ports[0].port`.

    A key that is empty or holds spaces, control characters, quotes or brackets is written
    quoted, `services["web\\n"]`, so the path stays one readable line and parses back.
    """
    out = ""
    for part in path:
        if isinstance(part, str) and len(part) > 60:
            part = part[:57] + "..."  # a hostile key must not make a message unreadable
        if isinstance(part, int):
            out += f"[{part}]"
        elif _plain_key(str(part)):
            out += ("." if out else "") + str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _plain_key(key: str) -> bool:
    return bool(key) and key.isprintable() and not any(c in key for c in ' []"\'')


_PATH_TOKEN = re.compile(r'\.?([^.\[\]]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def split_path(path: str) -> list[str | int]:
    """The inverse of format_path."""
    parts: list[str | int] = []
    for m in _PATH_TOKEN.finditer(path):
        name, index, quoted = m.groups()
        parts.append(name if name is not None else int(index) if index is not None else json.loads(quoted))
    return parts
