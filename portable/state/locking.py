"""Lock behaviour shared by every store: who I am, waiting with a progress line, the
messages of a held or lost lock, and PORTABLE_LOCK_ID (work under a persistent lock).

Each store implements one `attempt` (take the lock now or say who has it), how to find the
lock PORTABLE_LOCK_ID names and how to release one; the waiting, the bookkeeping of the held
lock, the wording and the exit codes live here so SQLite, PostgreSQL and S3 behave alike.
"""
from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from portable.errors import InputError, StateError, StateLockedError
from portable.state.store import LockInfo, Progress

PROGRESS_EVERY = 10.0  # seconds between "still waiting" lines
POLL = 0.2


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_lock_id() -> str:
    return uuid.uuid4().hex[:12]


def holder_identity() -> str:
    """user@host (pid N): enough for a colleague to find the process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def joined_lock_id() -> str | None:
    """The persistent lock this process works under (`export PORTABLE_LOCK_ID=...`)."""
    value = os.environ.get("PORTABLE_LOCK_ID", "").strip()
    return value or None


def joined_lock(app: str, target: str, find: Callable[[str], LockInfo | None]) -> LockInfo | None:
    """The lock PORTABLE_LOCK_ID names if it covers (app, target) (it is theirs, or the exclusive
    one), found by `find` (lock id -> the store's record of it); None when there is no such
    variable or the lock is another pair's; InputError when the store holds no lock of that id."""
    lock_id = joined_lock_id()
    if lock_id is None:
        return None
    info = find(lock_id)
    if info is None:
        raise unknown_joined_lock(lock_id)
    return info if info.exclusive or (info.app, info.target) == (app, target) else None


def locked_error(holder: LockInfo) -> StateLockedError:
    what = "locked for repair" if holder.exclusive else "locked"
    error = StateLockedError(
        f"{holder.subject} is {what} by {holder.holder} since {holder.since} ({holder.operation or 'no operation'}, lock {holder.lock_id})",
        lock_id=holder.lock_id, holder=holder.holder, since=holder.since,
    )
    if holder.persistent:
        error.hint = f"it was taken with `portable state lock`; when that work is done: portable state unlock {holder.lock_id}"
    return error


def lost_lock_error(store: str, held: LockInfo, now_held: LockInfo | None) -> StateError:
    """A write by a holder whose lock was released or taken over: refused, nothing written."""
    by = f"; it is now held by {now_held.holder} (lock {now_held.lock_id})" if now_held else ""
    return StateError(
        f"the lock on {held.subject} (lock {held.lock_id}, fencing token {held.token}) was released or taken over{by}: "
        f"nothing was written to {store}",
        hint="check `portable state list` and the target, then run the command again",
    )


def unknown_joined_lock(lock_id: str) -> InputError:
    return InputError(f"PORTABLE_LOCK_ID={lock_id} is not a lock held in this state store", hint="portable state list shows the held locks; unset PORTABLE_LOCK_ID")


def wait_for_lock(subject: str, attempt: Callable[[], tuple[LockInfo | None, LockInfo | None]], wait: float, progress: Progress | None) -> LockInfo:
    """Calls `attempt` until it returns (mine, _) or `wait` seconds passed.

    `attempt` returns (the lock taken, None) or (None, who holds it). While waiting, a
    progress line names the holder at once and every PROGRESS_EVERY seconds.
    """
    deadline = time.monotonic() + max(wait, 0.0)
    next_line = 0.0
    while True:
        mine, holder = attempt()
        if mine is not None:
            return mine
        assert holder is not None
        left = deadline - time.monotonic()
        if left <= 0:
            raise locked_error(holder)
        if progress is not None and time.monotonic() >= next_line:
            progress(f"waiting for the lock on {subject}: held by {holder.holder} since {holder.since} "
                     f"({holder.operation or 'no operation'}, lock {holder.lock_id}); giving up in {left:.0f}s")
            next_line = time.monotonic() + PROGRESS_EVERY
        time.sleep(min(POLL, max(left, 0.01)))


@contextmanager
def holding(held: dict[tuple[str, str], LockInfo], app: str, target: str, joined: Callable[[], LockInfo | None],
            attempt: Callable[[], tuple[LockInfo | None, LockInfo | None]], wait: float, progress: Progress | None,
            release: Callable[[LockInfo], None]) -> Iterator[LockInfo]:
    """Every store's `lock`: under the lock PORTABLE_LOCK_ID names (`joined`), which is left as it
    is; else under one taken now (`attempt`, waited for as `wait_for_lock` does) and released at
    the end (`release`). Either is `held` for (app, target) meanwhile: the store's writes check
    their fence against it."""
    mine = joined()
    if mine is not None:
        held[(app, target)] = mine
        try:
            yield mine
        finally:
            held.pop((app, target), None)
        return
    info = wait_for_lock(f"{app} on target {target}", attempt, wait, progress)
    held[(app, target)] = info
    try:
        yield info
    finally:
        held.pop((app, target), None)
        release(info)
