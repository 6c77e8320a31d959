"""Applies plans (bounded parallelism, health-gated, rollback) and the retry policy.

The names below are imported when first used: the state store imports `crashpoints` from
this package, and a no-op `plan` (portable/plan/noop.py) must not pay for the engine, the
provider contract and the manifest model behind `apply` to read a revision."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portable.engine.apply import ApplyReport, apply_plan
    from portable.engine.retry import call_with_retry, retry_transient

__all__ = ["ApplyReport", "apply_plan", "call_with_retry", "retry_transient"]
_HOME = {"ApplyReport": "apply", "apply_plan": "apply", "call_with_retry": "retry", "retry_transient": "retry"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"portable.engine.{_HOME[name]}"), name)
    raise AttributeError(f"module 'portable.engine' has no attribute {name!r}")
