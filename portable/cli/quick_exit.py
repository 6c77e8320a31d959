"""The CLI's exit without a last walk through every object the imports made.

At exit the interpreter tears its modules down and runs the cyclic garbage collector over
what they leave; with the provider SDKs and pydantic loaded (about 45,000 objects) that took
110-125 ms on the lab machine, after the command's work was done, on every command: a
noticeable part of a 3 s teardown. `gc.freeze()` moves every live object to the permanent
generation, which the collector skips, and the exit then takes 10-20 ms. Nothing is lost:
atexit handlers still run, files are still flushed and closed (reference counting frees
them, as it did), and memory goes back to the system with the process either way. Only the
CLI calls this, as its last act; a library must not change how its host exits.
"""
from __future__ import annotations

import gc


def skip_the_final_collection() -> None:
    """Freezes every live object so that the interpreter's shutdown does not traverse them."""
    gc.freeze()
