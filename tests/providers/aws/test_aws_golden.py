"""Golden files: what `portable render` writes for the examples on an aws target (and a
libcloud one): the JSON description of every resource and the user data of each service.

A diff here is a change users of `render` (and of deploy: the same specs are deployed) will
see. Regenerate on purpose with UPDATE_GOLDEN=1 and review the diff.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from portable import api  # noqa: E402
from vm_shop import REPO, shop_with_target  # noqa: E402

GOLDEN = REPO / "tests" / "golden"
ENV = {"SHOP_API_TOKEN": "golden-token-value"}  # only the examples' defaults otherwise
TARGETS = {
    "aws": "  aws:\n    provider: aws\n    region: eu-west-1\n    ami: ami-0123456789abcdef0\n    domain: shop.example.com\n    hosted_zone: example.com\n",
    "libcloud": "  libcloud:\n    provider: libcloud\n    driver: ec2\n    region: eu-west-1\n    image: ami-0123456789abcdef0\n",
}


def _render(example: str, target: str, tmp_path: Path) -> dict[str, str]:
    manifest = (REPO / "examples" / example / "portable.yaml").read_text()
    path = shop_with_target(tmp_path, TARGETS[target]) if example == "shop" else _with_target(tmp_path, manifest, TARGETS[target])
    env = dict(ENV, SHOP_WEB_REPLICAS="1") if target == "libcloud" else ENV  # no load balancer there
    paths = api.render(path, target, tmp_path / "out", env=env)
    return {p.relative_to(tmp_path / "out").as_posix(): p.read_text() for p in paths}


def _with_target(tmp_path: Path, manifest: str, target_yaml: str) -> Path:
    out = tmp_path / "app" / "portable.yaml"
    out.parent.mkdir(parents=True)
    out.write_text(manifest.rstrip("\n") + "\ntargets:\n" + target_yaml)
    return out


# rendered file -> golden file; one user data per case is enough (the bootstrap is shared)
CHECKED = {
    ("hello", "aws"): {"hello.aws.json": "aws.json", "user-data/web.yaml": "aws.user-data.web.yaml"},
    ("shop", "aws"): {"shop.aws.json": "aws.json", "user-data/api.yaml": "aws.user-data.api.yaml"},
    ("hello", "libcloud"): {"hello.libcloud.json": "libcloud.json"},
    ("shop", "libcloud"): {"shop.libcloud.json": "libcloud.json"},
}


@pytest.mark.parametrize(("example", "target"), sorted(CHECKED))
def test_render_matches_golden(example: str, target: str, tmp_path: Path) -> None:
    files = _render(example, target, tmp_path)
    assert not any("golden-token-value" in text for text in files.values())
    services = ["web"] if example == "hello" else ["api", "kv", "web", "worker"]
    assert sorted(n for n in files if n.startswith("user-data/")) == [f"user-data/{s}.yaml" for s in services]
    for name, golden_name in CHECKED[(example, target)].items():
        golden = GOLDEN / example / golden_name
        if os.environ.get("UPDATE_GOLDEN") == "1":
            golden.write_text(files[name])
        assert golden.exists(), f"no golden file {golden}: run with UPDATE_GOLDEN=1"
        assert files[name] == golden.read_text(), f"rendered {name} for {example} on {target} differs from {golden}"
