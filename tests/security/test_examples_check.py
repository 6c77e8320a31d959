"""The examples pass `portable check` at the default --fail-on (error) on every target they
declare, with their realistic default images and with the lab's: a new user's first run of
`portable check` on them must not be a refusal."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from portable.cli.main import cli
from portable.manifest import parse_file
from portable.manifest.interpolate import read_dotenv

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*/portable.yaml"))


@pytest.mark.parametrize("manifest", EXAMPLES, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("lab_images", [False, True], ids=["real-images", "lab-images"])
def test_example_passes_check_on_every_target(manifest: Path, lab_images: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTABLE_POLICY", raising=False)
    if lab_images:  # what --env-file examples/lab.env does, undone after the test
        for key, value in read_dotenv(REPO / "examples" / "lab.env").items():
            monkeypatch.setenv(key, value)
    targets = ["local", *parse_file(manifest).manifest.targets]
    for target in targets:
        result = CliRunner().invoke(cli, ["check", "-f", str(manifest), "-t", target])
        assert result.exit_code == 0, result.output
        assert "none at or above --fail-on error" in result.output
