"""The store contract: every state store (SQLite, PostgreSQL on the lab, S3 on the lab's moto)
keeps revisions the same way and gives the same lock semantics, tested with real processes.

In the spirit of terraform's TestBackendStateLocks: history round-trips; a second process
waits or fails naming the holder and the lock id; a SIGKILLed holder's lock is freed
(PostgreSQL at once with its session, S3 when the lease ends, SQLite by the dead-holder
rule); a holder whose lock was taken cannot write (fencing); a lock is released by id; an
exclusive lock stops everyone but the processes working under it; a newer schema is refused.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_support import KINDS, S3_LEASE, Holder, StoreUnderTest, new_store, portable

from portable.errors import InputError, StateError, StateLockedError
from portable.plan.resources import Resource

R1 = [Resource("service", "web", {"image": "a"}), Resource("network", "shop", {})]
R2 = [Resource("service", "web", {"image": "b"}, depends_on=("network/shop",), service="web", stateful=True)]


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, lab: Any, tmp_path: Path) -> Iterator[StoreUnderTest]:
    yield from new_store(request.param, lab, tmp_path)


def test_revisions_and_history_round_trip(store: StoreUnderTest) -> None:
    s = store.open()
    assert s.current("shop", "local") is None and s.history("shop", "local") == []
    with s.lock("shop", "local", "deploy"):
        r1 = s.finish(s.begin("shop", "local", "deploy", "d1", R1, "first"), "deployed")
        r2 = s.begin("shop", "local", "deploy", "d2", R2)
        assert (r1.number, r2.number) == (1, 2)
        assert s.current("shop", "local").number == 1  # revision 2 is still applying
        s.finish(r2, "failed", "web: unhealthy")
    with s.lock("shop", "aws", "deploy"):
        s.finish(s.begin("shop", "aws", "destroy", "d1", []), "destroyed")
    again = store.open()  # a second client sees exactly what the first wrote
    hist = again.history("shop", "local")
    assert [(r.number, r.status, r.message) for r in hist] == [(1, "deployed", "first"), (2, "failed", "web: unhealthy")]
    assert hist[1].resources == R2 and hist[0].resources == R1
    assert again.current("shop", "local").resources == R1
    assert again.latest("shop", "local").number == 2
    assert again.get("shop", "local", 1).manifest_digest == "d1"
    assert [(r.app, r.target, r.number) for r in again.deployments()] == [("shop", "aws", 1), ("shop", "local", 2)]
    assert again.current("shop", "aws").status == "destroyed"
    with pytest.raises(InputError, match="no revision 9"):
        again.get("shop", "local", 9)


def test_second_process_fails_naming_holder_and_lock_id_then_waits_for_it(store: StoreUnderTest) -> None:
    holder = Holder(store)
    try:
        s = store.open()
        with pytest.raises(StateLockedError) as info:
            with s.lock("shop", "local", "deploy", wait=1.0):
                pass
        text = str(info.value)
        assert f"(pid {holder.pid})" in text and holder.lock["lock_id"] in text and "since" in text
        assert f"portable state unlock {holder.lock['lock_id']}" in text
        with s.lock("shop", "staging", "deploy", wait=1.0):  # another target, and so another pair, is free
            pass
        assert holder.ask("release") == "RELEASED"
        with s.lock("shop", "local", "deploy", wait=60) as mine:  # the holder is done: the lock is ours
            assert mine.lock_id != holder.lock["lock_id"]
    finally:
        holder.close()


def test_waiting_prints_a_line_naming_the_holder(store: StoreUnderTest) -> None:
    holder = Holder(store)
    try:
        lines: list[str] = []
        with pytest.raises(StateLockedError):
            with store.open().lock("shop", "local", "deploy", wait=1.0, progress=lines.append):
                pass
        assert lines and f"pid {holder.pid}" in lines[0] and holder.lock["lock_id"] in lines[0]
    finally:
        holder.close()


def test_sigkill_of_the_holder_frees_the_lock(store: StoreUnderTest) -> None:
    holder = Holder(store)
    holder.kill()
    s = store.open()
    if store.kind == "s3":  # the lease still runs: refused now, taken once it ends
        with pytest.raises(StateLockedError, match=holder.lock["lock_id"]):
            with s.lock("shop", "local", "deploy", wait=0):
                pass
        with s.lock("shop", "local", "deploy", wait=S3_LEASE * 4) as info:
            assert info.token > holder.lock["token"]
    else:  # PostgreSQL: the session ended with the process; SQLite: the dead-holder rule
        with s.lock("shop", "local", "deploy", wait=5) as info:
            assert info.token > holder.lock["token"]
    assert [lock.lock_id for lock in s.locks()] == []


def test_a_holder_whose_lock_was_taken_cannot_write(store: StoreUnderTest) -> None:
    holder = Holder(store)
    try:
        assert holder.ask("write").startswith("WROTE 1")
        released = portable("state", "unlock", holder.lock["lock_id"], "--state", store.url, env=store.env)
        assert released.returncode == 0, released.stderr
        assert f"released lock {holder.lock['lock_id']} on shop on target local" in released.stdout
        s = store.open()
        with s.lock("shop", "local", "deploy", wait=10):
            answer = holder.ask("write")
            assert answer.startswith("REFUSED"), answer
            assert holder.lock["lock_id"] in answer and "released or taken over" in answer and "nothing was written" in answer
            s.finish(s.begin("shop", "local", "deploy", "mine", R1), "deployed")
        assert [r.manifest_digest for r in s.history("shop", "local")] == ["holder", "mine"]
    finally:
        holder.close()


def test_s3_lease_taken_over_from_a_frozen_holder_is_fenced(lab: Any, tmp_path: Path) -> None:
    """A holder stopped past its lease (a laptop asleep) wakes up to find its writes refused."""
    store = next(iter(new_store("s3", lab, tmp_path)))
    holder = Holder(store)
    try:
        os.kill(holder.pid, signal.SIGSTOP)
        s = store.open()
        with s.lock("shop", "local", "deploy", wait=S3_LEASE * 4) as mine:
            assert mine.token > holder.lock["token"]
            os.kill(holder.pid, signal.SIGCONT)
            answer = holder.ask("write")
            assert answer.startswith("REFUSED") and "released or taken over" in answer, answer
        assert s.history("shop", "local") == []
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.close()


def test_s3_lease_is_renewed_while_its_holder_lives(lab: Any, tmp_path: Path) -> None:
    """Three leases later a live holder still has its lock, and can still write."""
    store = next(iter(new_store("s3", lab, tmp_path)))
    holder = Holder(store)
    try:
        s = store.open()
        deadline = time.monotonic() + S3_LEASE * 3
        while time.monotonic() < deadline:
            with pytest.raises(StateLockedError, match=holder.lock["lock_id"]):
                with s.lock("shop", "local", "deploy", wait=0):
                    pass
            time.sleep(0.5)
        assert holder.ask("write").startswith("WROTE 1")
    finally:
        holder.close()


def test_unlock_of_an_unknown_id_is_bad_input(store: StoreUnderTest) -> None:
    result = portable("state", "unlock", "0123456789ab", "--state", store.url, env=store.env)
    assert result.returncode == 2 and "no lock with id 0123456789ab" in result.stderr


def test_exclusive_lock_stops_everyone_but_who_works_under_it(store: StoreUnderTest) -> None:
    taken = portable("state", "lock", "--exclusive", "--reason", "restoring history", "--state", store.url, env=store.env)
    assert taken.returncode == 0, taken.stderr
    lock_id = taken.stdout.split("as lock ", 1)[1].split(";")[0]
    assert f"export PORTABLE_LOCK_ID={lock_id}" in taken.stdout
    s = store.open()
    with pytest.raises(StateLockedError) as info:
        with s.lock("shop", "local", "deploy", wait=0.5):
            pass
    assert "locked for repair" in str(info.value) and lock_id in str(info.value) and "restoring history" in str(info.value)
    listed = portable("state", "list", "--state", store.url, "-o", "json", env=store.env)
    assert listed.returncode == 0 and lock_id in listed.stdout
    repair = Holder(store, extra_env={"PORTABLE_LOCK_ID": lock_id})  # works under the repair lock
    try:
        assert repair.ask("write").startswith("WROTE 1")
    finally:
        repair.close()
    assert portable("state", "unlock", lock_id, "--state", store.url, env=store.env).returncode == 0
    with s.lock("shop", "local", "deploy", wait=1) as mine:
        assert mine.lock_id != lock_id
    assert [r.manifest_digest for r in s.history("shop", "local")] == ["holder"]


def test_a_lock_on_one_app_is_kept_for_repair_and_covers_only_that_pair(store: StoreUnderTest, tmp_path: Path) -> None:
    taken = portable("state", "lock", "--app", "shop", "-t", "local", "--state", store.url, cwd=tmp_path, env=store.env)
    assert taken.returncode == 0, taken.stderr
    lock_id = taken.stdout.split("as lock ", 1)[1].split(";")[0]
    s = store.open()
    with pytest.raises(StateLockedError) as info:
        with s.lock("shop", "local", "deploy", wait=0):
            pass
    assert f"when that work is done: portable state unlock {lock_id}" in str(info.value)
    with s.lock("shop", "aws", "deploy", wait=0):  # another pair is free
        pass
    under = Holder(store, extra_env={"PORTABLE_LOCK_ID": lock_id})
    try:
        assert under.ask("write").startswith("WROTE 1")
    finally:
        under.close()
    other = Holder(store, "blog", "local", extra_env={"PORTABLE_LOCK_ID": lock_id})  # not covered: takes its own lock
    try:
        assert other.lock["lock_id"] != lock_id
    finally:
        other.close()
    assert portable("state", "unlock", lock_id, "--state", store.url, env=store.env).returncode == 0
    stale = portable("state", "lock", "--app", "shop", "--state", store.url, cwd=tmp_path, env={**store.env, "PORTABLE_LOCK_ID": lock_id})
    assert stale.returncode == 0  # state lock takes its own lock: PORTABLE_LOCK_ID only lets operations work under one
    from portable.errors import InputError as _InputError

    os.environ["PORTABLE_LOCK_ID"] = "feedfacecafe"
    try:
        with pytest.raises(_InputError, match="PORTABLE_LOCK_ID=feedfacecafe is not a lock held"):
            with s.lock("shop", "staging", "deploy", wait=0):
                pass
    finally:
        del os.environ["PORTABLE_LOCK_ID"]


def test_exclusive_lock_waits_for_running_operations(store: StoreUnderTest) -> None:
    holder = Holder(store)
    try:
        refused = portable("state", "lock", "--exclusive", "--lock-timeout", "1", "--state", store.url, env=store.env)
        assert refused.returncode == 1 and f"pid {holder.pid}" in refused.stderr and holder.lock["lock_id"] in refused.stderr
    finally:
        holder.close()


def _write_newer_schema(store: StoreUnderTest, lab: Any) -> None:
    s = store.open()
    if store.kind == "sqlite":
        with sqlite3.connect(store.url) as conn:
            conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    elif store.kind == "postgres":
        import psycopg

        with psycopg.connect(lab.env["LAB_POSTGRES_URL"], autocommit=True) as conn:
            conn.execute(f"UPDATE {s.schema}.meta SET value='99' WHERE key='schema_version'")
    else:
        s._put("portable-state.json", {"schema_version": 99})
    s.close()


def test_a_store_written_by_a_newer_portable_is_refused_even_for_reading(store: StoreUnderTest, lab: Any, tmp_path: Path) -> None:
    _write_newer_schema(store, lab)
    for args in (["state", "list"], ["state", "migrate", "--to", str(tmp_path / "copy.db")]):
        result = portable(*args, "--state", store.url, env=store.env)
        assert result.returncode == 1, result
        assert "schema version 99, newer than this portable understands" in result.stderr and "upgrade portable" in result.stderr
        assert "internal error" not in result.stderr
    with pytest.raises(StateError, match="schema version 99"):
        store.open()
