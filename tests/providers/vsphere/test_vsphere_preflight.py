"""Bad input on a vsphere target is refused while planning (issue 17): the registry password
the VMs log in with is read before the first clone, so an unset variable exits 2 naming
`targets.vcsim.registry.password_from`, and vcsim holds no VM and no disk of the app
afterwards (before, the disks and the first VMs were created and the clone failed).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SHOP, VCSIM_TARGET, Cli, _base_env

pytestmark = pytest.mark.lab("vcsim")


@pytest.fixture
def registry_cli(vc_lab: Any, tmp_path: Path) -> Iterator[Cli]:
    """examples/shop under a name of its own, its vcsim target logging in to a registry with
    a password read from a variable no one sets."""
    data = yaml.safe_load(SHOP.read_text())
    name = f"pf{uuid.uuid4().hex[:6]}"
    data["metadata"]["name"] = name
    data["targets"] = {"vcsim": {**VCSIM_TARGET, "registry": {"server": "ghcr.io", "username": "ci", "password_from": "env:PF_UNSET_REGISTRY_PASSWORD"}}}
    folder = tmp_path / "shop"
    folder.mkdir()
    manifest = folder / "portable.yaml"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    cli = Cli(vc_lab, manifest, tmp_path / "state.db", _base_env(vc_lab, name))
    yield cli
    cli("destroy", "--yes", "--volumes", "--quiet")


def test_registry_password_variable_not_set(registry_cli: Cli) -> None:
    run = registry_cli.deploy()
    assert run.returncode == 2, run.stdout + run.stderr
    assert "targets.vcsim.registry.password_from" in run.stderr and "PF_UNSET_REGISTRY_PASSWORD" in run.stderr, run.stderr
    assert "portable.yaml:" in run.stderr and "Traceback" not in run.stderr
    assert registry_cli.vms(None) == []
    assert registry_cli.disk_files() == []
