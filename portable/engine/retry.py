"""Retry policy for calls to targets: transient failures only, exponential backoff with
jitter, bounded, honouring a server's Retry-After. Permanent failures fail fast.

Providers wrap their SDK calls with `retry_transient`; the engine uses the same policy
around whole actions. The retry budget (how long one call, and one action, may keep retrying a
target that does not answer) is `PORTABLE_RETRY_BUDGET` seconds (default 20): past it the run
fails with the last error's one sentence, the previous revision still serving. It is read when
a call starts, so a test (or a user on a flaky link) can shorten or lengthen it per run.

The budget is measured on one clock shared by nested loops (`outage`: since the target last
answered), not by each loop alone: a call inside an action inside a wait would otherwise each
start a fresh budget when the loop around them retries, and a blackout longer than the budget
was waited out. Each loop also keeps its own `max_seconds`.
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.stop import stop_base

from portable.engine import cancel, outage
from portable.errors import Cancelled, PortableError, RepeatAction, TransientError

T = TypeVar("T")

_backoff = wait_exponential_jitter(multiplier=0.5, max=3, jitter=1)  # capped low: more tries fit in the budget

BUDGET_VARIABLE = "PORTABLE_RETRY_BUDGET"
DEFAULT_BUDGET = 20.0


def retry_budget() -> float:
    """Seconds a call (and an action) may spend retrying: $PORTABLE_RETRY_BUDGET, else 20."""
    raw = os.environ.get(BUDGET_VARIABLE, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_BUDGET
    except ValueError:
        return DEFAULT_BUDGET
    return value if 0 <= value < float("inf") else DEFAULT_BUDGET


def try_timeout() -> float:
    """Seconds one request may wait for its answer (the SDKs' socket timeouts): the retry budget,
    within 10..60 s. A request that hangs (a blackholed endpoint) is one try, and one try must
    not outlive the whole budget; a slow answer (2 s of latency, a busy simulator) is far below it."""
    return min(60.0, max(10.0, retry_budget()))


class stop_after_budget(stop_base):  # noqa: N801 - named like tenacity's own stops
    """A tenacity stop: the next wait would end past min(max_seconds, the retry budget) of this
    loop, or past the budget of the target's outage (how long it has gone unanswered, whichever
    loop, nested or around this one, saw the first failure)."""

    def __init__(self, max_seconds: float) -> None:
        self.max_seconds = max_seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        budget = retry_budget()
        limit = min(self.max_seconds, budget)
        elapsed = retry_state.seconds_since_start or 0.0
        unanswered = outage.unanswered_seconds()
        upcoming = float(retry_state.upcoming_sleep)  # the wait tenacity drew for this retry (it waits before it stops)
        return elapsed + upcoming > limit or unanswered + upcoming > budget


def marked(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` as one try of a retry loop, telling the outage clock what the target did: a
    transient failure continues (or starts) the outage; a result, or a definite answer (a
    refusal, not found, a create found done), ends it. For loops built on tenacity directly."""

    @functools.wraps(fn)
    def attempt(*args: Any, **kwargs: Any) -> T:
        clock = outage.current()
        tried_at = time.monotonic()
        try:
            result = fn(*args, **kwargs)
        except RepeatAction:
            if clock is not None:
                clock.answered()
            raise
        except TransientError:
            if clock is not None:
                clock.failed(tried_at)
            raise
        except Cancelled:
            raise
        except PortableError:
            if clock is not None:
                clock.answered()
            raise
        except Exception as exc:
            if clock is not None and _unanswered(exc):  # an SDK's connection error no provider mapped
                clock.failed(tried_at)
            raise
        if clock is not None:
            clock.answered()
        return result

    return attempt


def _unanswered(exc: BaseException) -> bool:
    """A connection refused, reset or timed out, as the standard library or requests says it."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        from requests.exceptions import ConnectionError as RequestsConnectionError, Timeout
    except ImportError:  # requests comes with the SDKs that raise its errors
        return False
    return isinstance(exc, (RequestsConnectionError, Timeout))


def budgeted(loop: Callable[..., T]) -> Callable[..., T]:
    """`loop` (a tenacity-wrapped `marked` function) run inside this thread's outage scope: the
    outermost loop of a thread opens the clock and closes it when it ends, nested ones share it."""

    @functools.wraps(loop)
    def run(*args: Any, **kwargs: Any) -> T:
        with outage.scope():
            return loop(*args, **kwargs)

    return run


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    hinted = getattr(exc, "retry_after", None)
    if isinstance(hinted, (int, float)) and hinted > 0:
        return float(min(hinted, 60))
    return float(_backoff(state))


def _transient_call(exc: BaseException) -> bool:
    return isinstance(exc, TransientError) and not isinstance(exc, RepeatAction)


def _transient_action(exc: BaseException) -> bool:
    return isinstance(exc, TransientError)


def retry_transient(attempts: int = 6, max_seconds: float = 120.0, *, whole_action: bool = False) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: retries TransientError up to `attempts` times within `max_seconds` (and the budget).

    RepeatAction (a create found already done) is retried only around a whole action
    (`whole_action`), which looks for what exists before creating."""
    policy = retry(
        retry=retry_if_exception(_transient_action if whole_action else _transient_call),
        wait=_wait,
        stop=stop_after_attempt(attempts) | stop_after_budget(max_seconds),
        sleep=cancel.pause,  # a backoff inside an apply ends at once on Ctrl-C (Cancelled is not retried)
        reraise=True,
    )

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        return budgeted(policy(marked(fn)))

    return decorate


def call_with_retry(fn: Callable[..., T], *args: Any, attempts: int = 6, **kwargs: Any) -> T:
    """Calls `fn` under the transient-retry policy."""
    return retry_transient(attempts, whole_action=True)(fn)(*args, **kwargs)
