"""How long the target has gone unanswered: the clock the retry budget is measured on.

The budget (PORTABLE_RETRY_BUDGET) is meant to bound how long a run keeps retrying a target
that does not answer. Retry loops are nested (a call inside an action, a poll inside a wait
inside an action), and each loop timing itself alone lets them add up: a call gives up after
its own tries, the action around it then still has budget left and starts again, and the
next call gets a fresh budget of its own; a 30 s blackout was waited out with a 20 s budget.

So the loops share one clock, an `Outage`: it starts at the first failure to reach the target
and stops (is cleared) at the first answer, whichever loop, nested or not, sees them. Every
loop stops once the outage plus its next wait would pass the budget. A loop that succeeds, or
a target that answers in between (30% of calls failing), clears it, so flaky-but-answering
targets keep their retries.

The outermost retrying scope of a thread (an action in the engine) opens the clock and closes
it when it ends, so nothing carries over from one action, test or command to the next; the
threads an action starts itself share their parent's clock through `carried`.
"""
from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_bound = threading.local()


class Outage:
    """Since when the target has not answered (None: it answered last). Shared by threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None
        self._last_answer = time.monotonic()

    def failed(self, tried_at: float | None = None) -> None:
        """A try begun at `tried_at` got no answer (or a transient failure): the outage goes on,
        or starts when that try began, unless the target answered something after that (a
        try that waited 8 s for a refused connection means 8 s without an answer already)."""
        with self._lock:
            if self._since is None:
                self._since = max(self._last_answer, time.monotonic() if tried_at is None else tried_at)

    def answered(self) -> None:
        """The target answered (with a result or a definite refusal): the outage is over."""
        with self._lock:
            self._since = None
            self._last_answer = time.monotonic()

    def seconds(self) -> float:
        """How long the target has gone unanswered so far (0 when it answered last)."""
        with self._lock:
            return 0.0 if self._since is None else time.monotonic() - self._since


def current() -> Outage | None:
    """The clock bound to this thread, if a retrying scope is open."""
    return getattr(_bound, "outage", None)


@contextmanager
def scope() -> Iterator[Outage]:
    """This thread's clock for the block: the one already open, or a new one closed at the end."""
    outer = current()
    if outer is not None:
        yield outer
        return
    _bound.outage = clock = Outage()
    try:
        yield clock
    finally:
        _bound.outage = None


def carried(fn: Callable[P, T]) -> Callable[P, T]:
    """`fn`, run under this thread's outage clock in whatever thread calls it (a pool of clones)."""
    clock = current()
    if clock is None:
        return fn

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> T:
        previous = current()
        _bound.outage = clock
        try:
            return fn(*args, **kwargs)
        finally:
            _bound.outage = previous

    return bound


def unanswered_seconds() -> float:
    """How long this thread's target has gone unanswered (0 outside any retrying scope)."""
    clock = current()
    return 0.0 if clock is None else clock.seconds()
