"""Ctrl-C during an apply: the revision is recorded as failed before the lock is let go, and
the user is told in one line what was done, what was not, and what to run.

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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, carrying the sentence the CLI prints after "interrupted; " (what was done and
    what was not, and the command that finishes the job). Still a KeyboardInterrupt, so
    every `except KeyboardInterrupt` and `finally` on the way out behaves as before."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


def note_progress(exc: BaseException, done: int, total: int) -> None:
    """Remembers on a KeyboardInterrupt how many of the plan's actions had finished."""
    exc.portable_progress = (done, total)  # type: ignore[attr-defined]


def progress_of(exc: BaseException) -> tuple[int, int] | None:
    found = getattr(exc, "portable_progress", None)
    return found if isinstance(found, tuple) else None


def summary_of(exc: BaseException) -> str | None:
    """The sentence an Interrupted carries, if `exc` (or what it was raised from) is one."""
    while exc is not None:
        if isinstance(exc, Interrupted):
            return exc.summary
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


@contextmanager
def recorded_when_interrupted(store: StateStore, revision: Revision, rerun: str = "run the same command again to converge") -> Iterator[None]:
    """Records `revision` as failed (CTRL_C) when the block is interrupted, then raises
    Interrupted naming the revision, how far it got, and `rerun`."""
    try:
        yield
    except KeyboardInterrupt as exc:
        store.finish(revision, "failed", CTRL_C)
        counts = progress_of(exc)
        how_far = f"stopped after {counts[0]} of {counts[1]} changes" if counts else "stopped before it finished"
        what = revision.kind + (f": {revision.message}" if revision.message and revision.message != revision.kind else "")
        raise Interrupted(f"revision {revision.number} ({what}) {how_far}, recorded as failed; {rerun}") from None
