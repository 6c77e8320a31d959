"""A damaged or unusable SQLite state file: one sentence naming the file and exit 1, never
"internal error", and never a silently empty history (issue 17, "State file damage")."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_support import portable

from portable.plan.resources import Resource
from portable.state import SqliteStateStore

MANIFEST = "apiVersion: portable/v1\nkind: Application\nmetadata: {name: shop}\nservices:\n  web: {image: lab/web:1}\n"


def _app(tmp_path: Path) -> Path:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    return manifest


def _with_history(path: Path) -> None:
    store = SqliteStateStore(path)
    store.finish(store.begin("shop", "local", "deploy", "d1", [Resource("container", "web-1", {"image": "lab/web:1"})]), "deployed")


def _refused(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_a_state_file_truncated_to_zero_bytes_is_refused_not_reset(tmp_path: Path) -> None:
    manifest = _app(tmp_path)
    state = tmp_path / ".portable" / "state.db"
    _with_history(state)
    state.write_bytes(b"")
    for args in (["history"], ["state", "list"]):
        _refused(portable(*args, "-f", str(manifest), cwd=tmp_path), str(state), "is empty (0 bytes)")
    assert state.stat().st_size == 0  # left as found, for whoever restores it


def test_schema_version_that_is_not_a_number(tmp_path: Path) -> None:
    manifest = _app(tmp_path)
    state = tmp_path / ".portable" / "state.db"
    _with_history(state)
    with sqlite3.connect(state) as conn:
        conn.execute("UPDATE meta SET value='two' WHERE key='schema_version'")
    _refused(portable("history", "-f", str(manifest), cwd=tmp_path), str(state), "schema_version is 'two', not a number")


def test_resources_that_are_not_json(tmp_path: Path) -> None:
    manifest = _app(tmp_path)
    state = tmp_path / ".portable" / "state.db"
    _with_history(state)
    with sqlite3.connect(state) as conn:
        conn.execute("UPDATE revisions SET resources='{not json'")
    _refused(portable("history", "-f", str(manifest), cwd=tmp_path), str(state), "revision 1 of shop on target local", "not valid JSON")


def test_dot_portable_being_a_file(tmp_path: Path) -> None:
    manifest = _app(tmp_path)
    (tmp_path / ".portable").write_text("not a directory")
    _refused(portable("history", "-f", str(manifest), cwd=tmp_path), str(tmp_path / ".portable"), "is a file, not a directory")


def _with_read_only(folder: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs the CLI with `folder` unwritable. Root ignores permissions, so as root the folder
    is bound read-only in a private mount namespace (unshare), as a read-only volume would be."""
    argv = [sys.executable, "-m", "portable.cli.main", *args]
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)
        finally:
            folder.chmod(0o755)
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is needed to make a folder read-only for root")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(folder), *argv],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_an_unwritable_directory(tmp_path: Path) -> None:
    manifest = _app(tmp_path)
    _refused(_with_read_only(tmp_path, "history", "-f", str(manifest), cwd=tmp_path), "cannot create the state directory", str(tmp_path / ".portable"))


def test_a_read_only_database_still_serves_history_and_refuses_to_write(tmp_path: Path, docker_host: str) -> None:
    manifest = _app(tmp_path)
    state = tmp_path / ".portable" / "state.db"
    _with_history(state)
    shown = _with_read_only(state.parent, "history", "-f", str(manifest), cwd=tmp_path)
    assert shown.returncode == 0 and "deployed" in shown.stdout, shown
    for args in (["deploy", "--yes"], ["state", "lock"]):  # the deploy stops at its lock, before touching the engine
        _refused(_with_read_only(state.parent, *args, "-f", str(manifest), cwd=tmp_path), str(state), "read-only")
