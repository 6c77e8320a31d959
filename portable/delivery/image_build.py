"""Reading a Docker engine's build stream, the one way every image portable builds is read.

The delivery builder (a `build:` service built once and pushed to a registry) and the docker
provider (built on the target's own engine) both ask the engine's low-level `build` API for a
decoded stream of JSON chunks. This turns an `error` chunk into one TargetError that carries
the last lines of the build's output, and reports each Dockerfile step as progress. It imports
no SDK: it reads the mappings the stream yields, so the core stays free of it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from portable.errors import TargetError

TAIL_LINES = 8  # how much of the build's output a failure shows


def follow_build(stream: Iterable[Mapping[str, Any]], ref: str, service: str, progress: Callable[[str], None]) -> None:
    """Reads `stream` to its end; raises TargetError naming `ref` and `service` if the build failed."""
    tail: list[str] = []
    for chunk in stream:
        if "error" in chunk:
            detail = "\n".join(f"    {line}" for line in tail[-TAIL_LINES:])
            raise TargetError(f"building image {ref} for service {service} failed: {str(chunk['error']).strip()}\n{detail}")
        text = str(chunk.get("stream", "")).rstrip()
        if text:
            tail.append(text)
            if text.startswith("Step "):
                progress(f"build {service}: {text}")
