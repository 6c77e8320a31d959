"""Cancel-aware waiting for the providers' poll loops (health, instance and VM states, deletes
waiting for a resource to be free, volume copies).

Ctrl-C reaches the main thread only (portable/cli/interrupt.py); the apply workers sit in poll
loops, and a `time.sleep` there keeps a worker polling, and acting, for as long as its loop
lasts after the run was abandoned. The engine runs each action with its run's cancel event
bound to the worker thread (`cancel_on`), and `pause` waits on that event instead of sleeping:
it returns after `seconds`, or raises Cancelled as soon as the run is abandoned. A wait loop
that is not inside an action (the main thread, a library caller) sleeps as before: there the
signal itself interrupts the sleep.
"""
from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from portable.errors import Cancelled

_bound = threading.local()
P = ParamSpec("P")
T = TypeVar("T")


@contextmanager
def cancel_on(event: threading.Event) -> Iterator[None]:
    """Binds `event` to this thread for the block: `pause` in it stops when the event is set."""
    previous = getattr(_bound, "event", None)
    _bound.event = event
    try:
        yield
    finally:
        _bound.event = previous


def current_event() -> threading.Event | None:
    """The cancel event bound to this thread, if any (to hand on to threads it starts)."""
    return getattr(_bound, "event", None)


def carried(fn: Callable[P, T]) -> Callable[P, T]:
    """`fn`, run under this thread's cancel event wherever it is called: for the threads an
    action starts itself (a pool cloning several VMs), which do not inherit thread-locals."""
    event = current_event()
    if event is None:
        return fn

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> T:
        assert event is not None
        with cancel_on(event):
            return fn(*args, **kwargs)

    return bound


def cancelled() -> bool:
    """True when this thread's run was abandoned."""
    event = current_event()
    return event is not None and event.is_set()


def pause(seconds: float) -> None:
    """Sleeps `seconds` in a wait loop, or raises Cancelled at once when this thread's run is abandoned."""
    seconds = max(0.0, seconds)
    event = current_event()
    if event is None:
        time.sleep(seconds)
        return
    if event.wait(seconds):
        raise Cancelled("the run was interrupted")
