"""Defect: secret digests were unsalted (sha256("portable-secret:" + value)[:12] in
annotations, labels and state), so anyone who could read them could test guesses of a
weak secret offline. They are now HMAC-SHA256 under a random per-app key that every store
(SQLite, PostgreSQL, S3) keeps in its own secret part: the same for everyone sharing the
store, different per app, carried by `state migrate`, and never on a target."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_support import KINDS, StoreUnderTest, new_store

from portable.session import Session

MANIFEST = """
apiVersion: portable/v1
kind: Application
metadata: {name: keyed}
services:
  web:
    image: nginx:1.27
    secrets: [token]
secrets: {token: {from: "env:KEYED_TOKEN"}}
targets:
  k8s: {provider: kubernetes, context: lab, namespace: keyed}
"""
WEAK = "password1"


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, lab: Any, tmp_path: Path) -> Iterator[StoreUnderTest]:
    yield from new_store(request.param, lab, tmp_path)


def test_each_app_has_one_key_kept_by_the_store(store: StoreUnderTest) -> None:
    first = store.open().app_key("keyed")
    assert len(first) == 32
    assert store.open().app_key("keyed") == first  # another process, another engineer: the same key
    assert store.open().app_key("other") != first


def _digest(tmp_path: Path, store: Any, value: str) -> str:
    (tmp_path / "portable.yaml").write_text(MANIFEST)
    session = Session.open(tmp_path / "portable.yaml", env={"KEYED_TOKEN": value}, state=store)
    secret = next(r for r in session.provider("k8s").translate(session.app("k8s")) if r.kind == "Secret")
    return str(secret.spec["metadata"]["annotations"]["portable.io/secret-digest"])


def test_digests_are_keyed_and_still_tell_a_changed_value(tmp_path: Path, store: StoreUnderTest) -> None:
    s = store.open()
    digest = _digest(tmp_path, s, WEAK)
    assert digest == _digest(tmp_path, store.open(), WEAK)  # stable: an unchanged secret rolls nothing
    assert digest != _digest(tmp_path, s, WEAK + "!")  # a rotated secret rolls its users
    # the offline guess of the old scheme no longer matches
    assert digest != hashlib.sha256(b"portable-secret:" + WEAK.encode()).hexdigest()[:12]
    assert not digest.startswith(hashlib.sha256(b"portable-secret:" + WEAK.encode()).hexdigest()[:12])


def test_state_migrate_carries_the_key_so_nothing_rolls(tmp_path: Path, lab: Any) -> None:
    source = next(new_store("sqlite", lab, tmp_path / "a"))
    dest = next(new_store("sqlite", lab, tmp_path / "b"))
    (tmp_path / "portable.yaml").write_text(MANIFEST)
    src = source.open()
    before = _digest(tmp_path, src, WEAK)
    with src.lock("keyed", "k8s", "deploy"):
        src.finish(src.begin("keyed", "k8s", "deploy", "d", []), "deployed")
    done = subprocess.run([sys.executable, "-m", "portable.cli.main", "state", "migrate", "--state", source.url, "--to", dest.url, "-o", "json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pairs"]
    assert _digest(tmp_path, dest.open(), WEAK) == before


def test_render_writes_no_digest_of_the_value(tmp_path: Path) -> None:
    (tmp_path / "portable.yaml").write_text(MANIFEST)
    done = subprocess.run([sys.executable, "-m", "portable.cli.main", "render", "-t", "k8s", "-f", str(tmp_path / "portable.yaml"), "-o", str(tmp_path / "out")],
                          env={"KEYED_TOKEN": WEAK, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "portable.io/secret-digest: unkeyed" in text
    assert hashlib.sha256(b"portable-secret:" + WEAK.encode()).hexdigest()[:12] not in text
    assert not (tmp_path / ".portable").exists()  # render opened no state store
