"""The leak scanner itself (tests/leak_scan.py): it must find a value however it was carried."""
from __future__ import annotations

import base64
from pathlib import Path

from leak_scan import LeakScanner


def test_the_scanner_finds_raw_base64_and_hex_values_and_names_where(tmp_path: Path) -> None:
    scanner = LeakScanner({"LEAK_API_TOKEN": "leak-api-token-123abc", "OTHER": "other-456def"})
    assert scanner.scan() == []
    scanner.record("stdout", "deploying... value " + "leak-api-token-123abc")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "rev.json").write_bytes(base64.b64encode(b"other-456def"))
    scanner.watch(tmp_path / "state")
    scanner.probe("tags", lambda: {"k": "leak-api-token-123abc".encode().hex()})
    assert scanner.scan() == [
        "secret LEAK_API_TOKEN found in stdout",
        f"secret OTHER found in {tmp_path / 'state' / 'rev.json'}",
        "secret LEAK_API_TOKEN found in tags",
    ]


def test_a_rotated_value_stays_watched() -> None:
    scanner = LeakScanner({"LEAK_API_TOKEN": "first-value-0001"})
    new = scanner.rotate("LEAK_API_TOKEN")
    assert new != "first-value-0001" and scanner.value("LEAK_API_TOKEN") == new
    scanner.record("log", "first-value-0001")
    assert scanner.scan() == ["secret LEAK_API_TOKEN found in log"]
