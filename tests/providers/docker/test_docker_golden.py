"""Golden files: what `portable render` writes for the examples on the local docker target.

A diff here is a change users of `render` (and of deploy: the same specs are deployed) will
see. Regenerate on purpose with UPDATE_GOLDEN=1 and review the diff.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from portable import api

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "golden"
ENV = {"SHOP_API_TOKEN": "golden-token-value"}  # only the examples' defaults otherwise


def _render(example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("PORTABLE_PROXY_IMAGE", raising=False)  # the settings' default image
    paths = api.render(REPO / "examples" / example / "portable.yaml", "local", tmp_path / "out", env=ENV)
    return {p.relative_to(tmp_path / "out").as_posix(): p.read_text() for p in paths}


@pytest.mark.parametrize("example", ["hello", "shop"])
def test_render_matches_golden(example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _render(example, tmp_path, monkeypatch)["docker-compose.yaml"]
    golden = GOLDEN / example / "docker.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}: run with UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"rendered compose file for {example} differs from {golden}"


def test_shop_render_names_its_secret_and_config_but_holds_no_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _render("shop", tmp_path, monkeypatch)
    assert sorted(files) == ["configs/api-0", "docker-compose.yaml"]
    assert not any("golden-token-value" in text for text in files.values())
    doc = yaml.safe_load(files["docker-compose.yaml"])
    assert doc["secrets"] == {"api-token": {"environment": "SHOP_API_TOKEN"}}
    assert doc["services"]["worker-1"]["secrets"] == [{"source": "api-token", "target": "/run/secrets/token", "mode": 0o400}]
    assert doc["services"]["proxy-8000"]["ports"] == ["0.0.0.0:8000:80"]
    assert doc["services"]["web-1"]["depends_on"] == {"api-1": {"condition": "service_healthy"}}
    assert "ports" not in doc["services"]["web-1"]  # the proxy owns the public port
