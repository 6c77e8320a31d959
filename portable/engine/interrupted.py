"""Ctrl-C during an apply: the revision is recorded as failed before the lock is let go.

Without this, a KeyboardInterrupt leaves the revision `applying` until the next run finds
it (as if its process had died), and `status`/`history` say nothing of what happened. The
next deploy treats such a revision as one that never finished (it plans and applies again
even when the plan looks empty), so a rerun converges.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from portable.state.store import Revision, StateStore

CTRL_C = "interrupted by Ctrl-C (SIGINT) before it finished: run the command again to converge"


@contextmanager
def recorded_when_interrupted(store: StateStore, revision: Revision) -> Iterator[None]:
    """Records `revision` as failed (CTRL_C) when the block is interrupted, then re-raises."""
    try:
        yield
    except KeyboardInterrupt:
        store.finish(revision, "failed", CTRL_C)
        raise
