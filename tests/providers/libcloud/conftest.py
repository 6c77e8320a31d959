"""Fixtures of the libcloud provider tests (defined in libcloud_support.py)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from libcloud_support import libcloud_shop, ns_proxy  # noqa: E402,F401
