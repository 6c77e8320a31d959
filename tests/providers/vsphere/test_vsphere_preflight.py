"""Bad input on a vsphere target is refused while planning (issue 17): the registry password
the VMs log in with is read before the first clone, so an unset variable exits 2 naming
`targets.vcsim.registry.password_from`, and vcsim holds no VM and no disk of the app
afterwards (before, the disks and the first VMs were created and the clone failed).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from vcenter import app_vms, connect, datastore_files

pytestmark = pytest.mark.lab("vcsim")

SHOP = Path(__file__).resolve().parents[3] / "examples" / "shop" / "portable.yaml"
# the target of conftest.py's VCSIM_TARGET (not imported: `conftest` is ambiguous when several test folders are collected)
TARGET = {
    "provider": "vsphere", "host": "${LAB_VC_HOST}", "port": "${LAB_VC_PORT}", "insecure": True,
    "datacenter": "${LAB_VC_DATACENTER}", "template": "${LAB_VC_TEMPLATE}", "cluster": "${LAB_VC_CLUSTER}",
    "folder": "${LAB_VC_FOLDER}", "datastore": "${LAB_VC_DATASTORE}", "network": "${LAB_VC_NETWORK}", "boot_timeout": 60,
    "allow_secrets_in_metadata": True,
}


def cli(manifest: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(manifest), "--target", "vcsim", "--state", str(manifest.parent / "s.db")],
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def registry_shop(vc_lab: Any, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], str]]:
    """examples/shop under a name of its own, its vcsim target logging in to a registry with
    a password read from a variable no one sets."""
    data = yaml.safe_load(SHOP.read_text())
    name = f"pf{uuid.uuid4().hex[:6]}"
    data["metadata"]["name"] = name
    data["targets"] = {"vcsim": {**TARGET, "registry": {"server": "ghcr.io", "username": "ci", "password_from": "env:PF_UNSET_REGISTRY_PASSWORD"}}}
    manifest = tmp_path / "shop" / "portable.yaml"
    manifest.parent.mkdir()
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**os.environ, "LAB_VC_HOST": vc_lab.host, "LAB_VC_PORT": str(vc_lab.port), "VSPHERE_USER": vc_lab.user, "VSPHERE_PASSWORD": vc_lab.password,
           "SHOP_API_TOKEN": "lab-token-s3cr3t", "SHOP_WEB_IMAGE": "lab/web:1", "SHOP_API_IMAGE": "lab/web:1", "SHOP_WORKER_IMAGE": "lab/worker:1", "SHOP_KV_IMAGE": "lab/kv:1"}
    env.pop("PF_UNSET_REGISTRY_PASSWORD", None)
    yield manifest, env, name
    cli(manifest, env, "destroy", "--yes", "--volumes", "--quiet")


def test_registry_password_variable_not_set(registry_shop: tuple[Path, dict[str, str], str], vc_lab: Any) -> None:
    manifest, env, name = registry_shop
    run = cli(manifest, env, "deploy", "--yes")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "targets.vcsim.registry.password_from" in run.stderr and "PF_UNSET_REGISTRY_PASSWORD" in run.stderr, run.stderr
    assert "portable.yaml:" in run.stderr and "Traceback" not in run.stderr
    with connect(vc_lab) as content:
        assert app_vms(content, name, None) == []
        assert [f for f in datastore_files(content, vc_lab.datastore, f"portable-disks/{name}") if f.endswith(".vmdk")] == []
