"""Python's cyclic garbage collector held off while a big tree of new objects is built.

Loading a manifest and translating or rendering it allocate hundreds of thousands of objects
that all stay alive (YAML nodes, positions, specs) and form no cycles: each allocation burst
starts a collection that walks every object made so far, which was 35-45% of the CPU of a
1,000-service render (issue 19). Reference counting still frees everything as usual; cycles
made meanwhile are collected at the next collection after the block. Nests, and leaves the
collector off if it was already off.
"""
from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def paused_gc() -> Iterator[None]:
    """Runs the block with the cyclic collector disabled, restoring its state after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def without_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` run inside paused_gc(): for the translate functions, which build every Resource."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused_gc():
            return fn(*args, **kwargs)

    return wrapper
