"""Placeholder entry points for migration; the real implementation lands with issue 8."""
from __future__ import annotations

from typing import Any

from portable.errors import PortableError


def migrate(*args: Any, **kwargs: Any) -> Any:
    raise PortableError("migrate is not available in this build yet")


def backup(*args: Any, **kwargs: Any) -> Any:
    raise PortableError("backup is not available in this build yet")


def restore(*args: Any, **kwargs: Any) -> Any:
    raise PortableError("restore is not available in this build yet")
