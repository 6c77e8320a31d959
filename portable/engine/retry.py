"""Retry policy for calls to targets: transient failures only, exponential backoff with
jitter, bounded, honouring a server's Retry-After. Permanent failures fail fast.

Providers wrap their SDK calls with `retry_transient`; the engine uses the same policy
around whole actions.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import RetryCallState, retry, retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from portable.errors import TransientError

T = TypeVar("T")

_backoff = wait_exponential_jitter(multiplier=0.5, max=20, jitter=1)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    hinted = getattr(exc, "retry_after", None)
    if isinstance(hinted, (int, float)) and hinted > 0:
        return float(min(hinted, 60))
    return float(_backoff(state))


def retry_transient(attempts: int = 6, max_seconds: float = 120.0) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: retries TransientError up to `attempts` times within `max_seconds`."""
    return retry(
        retry=retry_if_exception_type(TransientError),
        wait=_wait,
        stop=stop_after_attempt(attempts) | stop_after_delay(max_seconds),
        reraise=True,
    )


def call_with_retry(fn: Callable[..., T], *args: Any, attempts: int = 6, **kwargs: Any) -> T:
    """Calls `fn` under the transient-retry policy."""
    return retry_transient(attempts)(fn)(*args, **kwargs)
