"""Fixtures of the aws provider tests (defined in aws_support.py)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from aws_support import aws_shop  # noqa: E402,F401
