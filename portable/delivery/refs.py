"""Image references, split as Docker splits them: [host/]repository[:tag][@digest]."""
from __future__ import annotations

import re
from dataclasses import dataclass

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageRef:
    host: str | None  # None: Docker Hub (no registry reachable from here to resolve it)
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        name, _, digest = ref.partition("@")
        host: str | None = None
        first, sep, rest = name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            host, name = first, rest
        tag: str | None = None
        last_slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > last_slash:
            name, tag = name[:colon], name[colon + 1:]
        return cls(host, name, tag, digest or None)

    @property
    def pinned(self) -> bool:
        return self.digest is not None and DIGEST.match(self.digest) is not None

    def with_digest(self, digest: str) -> str:
        """host/repository@digest: the reference that cannot move."""
        return f"{self.host}/{self.repository}@{digest}" if self.host else f"{self.repository}@{digest}"

    def __str__(self) -> str:
        base = f"{self.host}/{self.repository}" if self.host else self.repository
        return base + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")
