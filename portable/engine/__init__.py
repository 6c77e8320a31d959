"""Applies plans (bounded parallelism, health-gated, rollback) and the retry policy."""
from portable.engine.apply import ApplyReport, apply_plan
from portable.engine.retry import call_with_retry, retry_transient

__all__ = ["ApplyReport", "apply_plan", "call_with_retry", "retry_transient"]
