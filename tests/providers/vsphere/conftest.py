"""Fixtures of the vsphere provider tests: the lab's vcsim, a CLI runner, a unique app name.

vcsim comes from the lab (`bash tests/lab/lab up vcsim`) through the shared `vcsim` fixture
of tests/conftest.py; the target settings read the lab's LAB_VC_* variables.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from vcenter import GuestIpReporter, Lab, app_vms, connect, datastore_files

REPO = Path(__file__).resolve().parents[3]
TEST_APP = Path(__file__).parent / "app" / "portable.yaml"
SHOP = REPO / "examples" / "shop" / "portable.yaml"


@pytest.fixture(scope="session")
def vc_lab(vcsim: Any) -> Lab:
    """The lab's vcsim (the shared fixture fails under CI=true, skips loudly otherwise)."""
    return Lab(vcsim.host, int(vcsim.port), vcsim.user, vcsim.password, vcsim.datastore)


@dataclass
class Cli:
    """Runs `portable` as a user would, with the lab's endpoint and credentials."""

    lab: Lab
    manifest: Path
    state: Path
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 300, targeted: bool = True, **extra_env: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **extra_env}
        where = ["--target", "vcsim", "--state", str(self.state)] if targeted else []
        return subprocess.run(
            [sys.executable, "-m", "portable.cli.main", *args, "-f", str(self.manifest), *where],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def deploy(self, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return self("deploy", "--yes", **extra_env)

    def vms(self, kind: str | None = "instance-group") -> list[Any]:
        """The app's service VMs (kind="load-balancer": its front proxies; None: all)."""
        with connect(self.lab) as content:
            return app_vms(content, self.env["APP_NAME"], kind)

    def proxies(self) -> list[Any]:
        return self.vms("load-balancer")

    def disk_files(self) -> list[str]:
        with connect(self.lab) as content:
            return [f for f in datastore_files(content, self.lab.datastore, f"portable-disks/{self.env['APP_NAME']}") if f.endswith(".vmdk")]

    def reporter(self, **options: Any) -> GuestIpReporter:
        return GuestIpReporter(self.lab, self.env["APP_NAME"], **options)


def _base_env(lab: Lab, app_name: str) -> dict[str, str]:
    return {
        **os.environ,
        "APP_NAME": app_name,
        "LAB_VC_HOST": lab.host,
        "LAB_VC_PORT": str(lab.port),
        "VSPHERE_USER": lab.user,
        "VSPHERE_PASSWORD": lab.password,
        **{k: str(v) for k, v in os.environ.items() if k.startswith("LAB_VC_")},
        "VSHOP_API_KEY": "vshop-key-s3cr3t",
        "SHOP_API_TOKEN": "lab-token-s3cr3t",
        "SHOP_WEB_IMAGE": "lab/web:1",
        "SHOP_WEB_PORT": "8080",
        "SHOP_WEB_HEALTH_PATH": "/cgi-bin/health",
        "SHOP_API_IMAGE": "lab/web:1",
        "SHOP_API_HEALTH_PATH": "/cgi-bin/health",
        "SHOP_WORKER_IMAGE": "lab/worker:1",
        "SHOP_KV_IMAGE": "lab/kv:1",
        "SHOP_KV_PORT": "8080",
        "SHOP_KV_HEALTH": "wget -q -O- http://127.0.0.1:8080/cgi-bin/health",
    }


@pytest.fixture
def app_cli(vc_lab: Lab, tmp_path: Path) -> Iterator[Cli]:
    """The test app (web, stateful kv, 2 workers) under a fresh name; destroyed afterwards."""
    name = f"vs{uuid.uuid4().hex[:6]}"
    cli = Cli(vc_lab, TEST_APP, tmp_path / "state.db", _base_env(vc_lab, name))
    yield cli
    cli("destroy", "--yes", "--volumes", "--quiet")


VCSIM_TARGET = {
    "provider": "vsphere",
    "host": "${LAB_VC_HOST}",
    "port": "${LAB_VC_PORT}",
    "insecure": True,  # vcsim serves a self-signed certificate
    "datacenter": "${LAB_VC_DATACENTER}",
    "template": "${LAB_VC_TEMPLATE}",
    "cluster": "${LAB_VC_CLUSTER}",
    "folder": "${LAB_VC_FOLDER}",
    "datastore": "${LAB_VC_DATASTORE}",
    "network": "${LAB_VC_NETWORK}",
    "boot_timeout": 60,
    "allow_secrets_in_metadata": True,  # vcsim's VMs run no guest to write secrets into: guestinfo, accepted
}


@pytest.fixture
def shop_cli(vc_lab: Lab, tmp_path: Path) -> Iterator[Cli]:
    """examples/shop unchanged but for a `vcsim` target added beside it; destroyed afterwards."""
    if not SHOP.exists():
        pytest.skip("examples/shop does not exist yet")
    data = yaml.safe_load(SHOP.read_text())
    data.setdefault("targets", {})["vcsim"] = VCSIM_TARGET
    folder = tmp_path / "shop"
    folder.mkdir()
    manifest = folder / "portable.yaml"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    env = _base_env(vc_lab, data["metadata"]["name"])
    cli = Cli(vc_lab, manifest, tmp_path / "state.db", env)
    cli("destroy", "--yes", "--volumes", "--quiet")  # a shop left by an interrupted run
    yield cli
    cli("destroy", "--yes", "--volumes", "--quiet")
