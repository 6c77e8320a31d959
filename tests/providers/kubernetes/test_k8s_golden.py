"""Golden files: what `portable render` writes for the examples on a kubernetes target.

A diff here is a change users of `render` (and of deploy) will see. Regenerate on purpose
with UPDATE_GOLDEN=1 and review the diff.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from k8s_helpers import GOLDEN, example_with_target

from portable import api

TARGETS = {
    "hello": {"namespace": "hello", "public_service_type": "NodePort"},
    "shop": {"namespace": "shop", "ingress": {"class": "nginx", "host": "shop.example.com", "tls_secret": "shop-tls"}},
}
ENV = {"SHOP_API_TOKEN": "golden-token-value"}


def render_example(example: str, tmp_path: Path) -> str:
    manifest = example_with_target(example, tmp_path, "kubernetes", TARGETS[example])
    [out] = api.render(manifest, "kubernetes", tmp_path / "out", env=ENV)
    return out.read_text()


@pytest.mark.parametrize("example", sorted(TARGETS))
def test_render_matches_golden(example: str, tmp_path: Path) -> None:
    text = render_example(example, tmp_path)
    golden = GOLDEN / example / "kubernetes.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}: run with UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"rendered YAML for {example} differs from {golden}"


def test_rendered_secret_has_no_value(tmp_path: Path) -> None:
    text = render_example("shop", tmp_path)
    assert "golden-token-value" not in text
    secrets = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "Secret"]
    assert [s["metadata"]["name"] for s in secrets] == ["shop-api-token"]
    assert "data" not in secrets[0] and "stringData" not in secrets[0]
