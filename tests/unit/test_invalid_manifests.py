"""Every invalid manifest in the corpus is refused with exit 2, its location and field path."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from portable.cli.main import cli

CORPUS = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))


def _expectations(path: Path) -> tuple[str, str]:
    head = path.read_text().splitlines()[:2]
    return head[0].removeprefix("# expect-path: ").strip(), head[1].removeprefix("# expect-message: ").strip()


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("manifest", CORPUS, ids=lambda p: p.stem)
def test_invalid_manifest_exits_2_with_location(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_IMAGE", raising=False)
    field, message = _expectations(manifest)
    result = CliRunner().invoke(cli, ["validate", "-f", str(manifest)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert re.search(re.escape(str(manifest)) + r":\d+:\d+: ", result.output), result.output
    assert field in result.output
    assert message in result.output


def test_error_points_at_the_offending_line(tmp_path: Path) -> None:
    f = tmp_path / "portable.yaml"
    f.write_text("apiVersion: portable/v1\nkind: Application\nmetadata:\n  name: a\nservices:\n  web:\n    image: x\n    ports:\n      - port: 80\n        protocol: htp\n")
    result = CliRunner().invoke(cli, ["validate", "-f", str(f)])
    assert result.exit_code == 2
    assert f"{f}:10:19: services.web.ports[0].protocol:" in result.output


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "-f", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such manifest file" in result.output


def test_invalid_manifest_changes_nothing(tmp_path: Path) -> None:
    """deploy of an invalid manifest exits 2 before any state or target is touched."""
    bad = CORPUS[0]
    state = tmp_path / "state.db"
    result = CliRunner().invoke(cli, ["deploy", "-f", str(bad), "--yes", "--state", str(state)])
    assert result.exit_code == 2
    assert not state.exists()
