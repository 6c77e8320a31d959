"""The leak scanner: distinctive secret values for an e2e test, and a check, after it, that
none of them turned up where a secret must never be.

    def test_x(leak_secrets):
        env = leak_secrets.env                       # LEAK_API_TOKEN etc., each a unique value
        done = leak_secrets.run([...], env=...)      # stdout and stderr are scanned
        leak_secrets.watch(state_db, rendered_dir)   # files and directories, scanned after the test
        leak_secrets.probe("user data", lambda: ...)  # target metadata, read by the test's own API client
        leak_secrets.scan()                          # now (e.g. before destroy); also run at teardown

A value counts as found raw, base64-encoded (how user data and Kubernetes Secrets carry it)
or hex-encoded. Any hit fails the test, naming where it was found (never the value).
"""
from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def _needles(value: str) -> list[bytes]:
    raw = value.encode()
    return [raw, base64.b64encode(raw), base64.b64encode(raw).rstrip(b"="), raw.hex().encode()]


@dataclass
class LeakScanner:
    values: dict[str, str]  # variable -> distinctive value
    texts: list[tuple[str, bytes]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    probes: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return dict(self.values)

    def value(self, name: str) -> str:
        return self.values[name]

    def rotate(self, name: str) -> str:
        """A new distinctive value for `name` (the old one stays watched)."""
        new = f"{name.lower()}-{uuid.uuid4().hex}"
        self.values[f"{name}@{len(self.values)}"] = self.values[name]
        self.values[name] = new
        return new

    def record(self, where: str, text: str | bytes) -> None:
        self.texts.append((where, text.encode() if isinstance(text, str) else text))

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """subprocess.run with output captured and recorded for the scan."""
        done = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
        self.record(f"stdout of {' '.join(argv[:5])}", done.stdout)
        self.record(f"stderr of {' '.join(argv[:5])}", done.stderr)
        return done

    def watch(self, *paths: Path) -> None:
        self.paths += [Path(p) for p in paths]

    def probe(self, where: str, read: Callable[[], Any]) -> None:
        self.probes.append((where, read))

    def _check(self, where: str, data: bytes) -> None:
        for name, value in self.values.items():
            if any(n in data for n in _needles(value)):
                self.hits.append(f"secret {name.split('@')[0]} found in {where}")

    def scan(self) -> list[str]:
        """Scans everything recorded, watched and probed so far; returns (and keeps) the hits."""
        for where, data in self.texts:
            self._check(where, data)
        self.texts.clear()
        for root in self.paths:
            for file in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []:
                self._check(str(file), file.read_bytes())
        for where, read in self.probes:
            got = read()
            self._check(where, got if isinstance(got, bytes) else repr(got).encode() if not isinstance(got, str) else got.encode())
        self.hits = list(dict.fromkeys(self.hits))
        return self.hits


@pytest.fixture
def leak_secrets() -> Iterator[LeakScanner]:
    """Distinctive values for LEAK_API_TOKEN, LEAK_DB_PASSWORD and SHOP_API_TOKEN; the test
    fails if any turns up in what it recorded, watched or probed."""
    run = uuid.uuid4().hex[:12]
    scanner = LeakScanner({name: f"{name.lower().replace('_', '-')}-{run}-{uuid.uuid4().hex[:8]}" for name in ("LEAK_API_TOKEN", "LEAK_DB_PASSWORD", "SHOP_API_TOKEN")})
    yield scanner
    hits = scanner.scan()
    if hits:
        pytest.fail("secret values leaked:\n  " + "\n  ".join(hits), pytrace=False)
