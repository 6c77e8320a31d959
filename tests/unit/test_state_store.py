"""The SQLite state store: revisions, history, schema guard, and the lock across processes."""
from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from portable.errors import InputError, StateError, StateLockedError
from portable.plan.resources import Resource
from portable.state import SqliteStateStore

R1 = [Resource("service", "web", {"image": "a"})]
R2 = [Resource("service", "web", {"image": "b"})]


def test_revisions_are_numbered_and_current_is_last_deployed(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "s.db")
    assert store.current("shop", "local") is None
    r1 = store.finish(store.begin("shop", "local", "deploy", "d1", R1), "deployed")
    r2 = store.begin("shop", "local", "deploy", "d2", R2)
    assert (r1.number, r2.number) == (1, 2)
    assert store.current("shop", "local").number == 1  # revision 2 is still applying
    store.finish(r2, "failed", "web: unhealthy")
    cur = store.current("shop", "local")
    assert cur.number == 1 and cur.resources[0].spec == {"image": "a"}
    assert [(r.number, r.status) for r in store.history("shop", "local")] == [(1, "deployed"), (2, "failed")]
    assert store.history("shop", "local")[1].message == "web: unhealthy"
    assert store.current("shop", "aws") is None  # targets are separate
    with pytest.raises(InputError, match="no revision 9"):
        store.get("shop", "local", 9)


def test_destroyed_revision_becomes_current(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "s.db")
    store.finish(store.begin("shop", "local", "deploy", "d1", R1), "deployed")
    store.finish(store.begin("shop", "local", "destroy", "d1", []), "destroyed")
    cur = store.current("shop", "local")
    assert cur.status == "destroyed" and cur.resources == []
    assert [r.app for r in store.deployments()] == ["shop"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStateStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StateError, match="schema version 99"):
        SqliteStateStore(path)


def test_corrupt_file_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot be used"):
        SqliteStateStore(path)


def _hold_lock(path: str, ready: "multiprocessing.synchronize.Event", release: "multiprocessing.synchronize.Event") -> None:
    store = SqliteStateStore(path)
    with store.lock("shop", "local", "deploy"):
        ready.set()
        release.wait(30)


def test_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        store = SqliteStateStore(path)
        started = time.monotonic()
        with pytest.raises(StateLockedError) as info:
            with store.lock("shop", "local", "deploy", wait=1.0):
                pass
        assert time.monotonic() - started >= 1.0
        msg = str(info.value)
        assert f"(pid {holder.pid})" in msg and "since" in msg and "portable state unlock" in msg
        with store.lock("shop", "staging", "deploy", wait=1.0):  # another target is free
            pass
    finally:
        release.set()
        holder.join(30)
    with SqliteStateStore(path).lock("shop", "local", "deploy", wait=5.0):
        pass


def test_lock_of_dead_process_is_taken_over_and_unlock_works(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, release))
    holder.start()
    assert ready.wait(30)
    holder.kill()
    holder.join(10)
    store = SqliteStateStore(path)
    assert len(store.locks()) == 1  # left behind by the killed process
    with store.lock("shop", "local", "deploy", wait=1.0) as info:
        assert store.locks()[0].lock_id == info.lock_id
        released = store.unlock(info.lock_id)
        assert released.app == "shop"
    assert store.locks() == []
    with pytest.raises(InputError, match="no lock with id"):
        store.unlock("nope")
