"""Fixtures of the vsphere provider tests: the lab's vcsim, a CLI runner, a unique app name.

vcsim comes from the lab (`bash tests/lab/lab up vcsim`): the shared `vcsim` fixture when
tests/conftest.py has it, else the endpoint the lab wrote to $LAB_RUN/env.json. Missing
vcsim fails under CI=true and skips loudly otherwise.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from vcenter import GuestIpReporter, Lab, app_vms, connect, datastore_files

REPO = Path(__file__).resolve().parents[3]
TEST_APP = Path(__file__).parent / "app" / "portable.yaml"
SHOP = REPO / "examples" / "shop" / "portable.yaml"


def _lab_from(value: Any) -> Lab | None:
    """Accepts what the shared fixture may hand out: a mapping of LAB_VC_* or an object."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        get = value.get
        host = get("LAB_VC_HOST") or get("host")
        port = get("LAB_VC_PORT") or get("port")
        user = get("LAB_VC_USER") or get("user") or get("username")
        password = get("LAB_VC_PASSWORD") or get("password")
    else:
        host, port = getattr(value, "host", None), getattr(value, "port", None)
        user = getattr(value, "user", None) or getattr(value, "username", None)
        password = getattr(value, "password", None)
    if not (host and port and user and password is not None):
        return None
    return Lab(str(host), int(port), str(user), str(password))


def _lab_env_file() -> Lab | None:
    path = Path(os.environ.get("LAB_RUN", "/tmp/portable-lab")) / "env.json"
    try:
        return _lab_from(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="session")
def vc_lab(request: pytest.FixtureRequest) -> Lab:
    lab = None
    try:
        lab = _lab_from(request.getfixturevalue("vcsim"))
    except pytest.FixtureLookupError:
        lab = _lab_env_file()
    if lab is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the lab's vcsim is not up (bash tests/lab/lab up vcsim)")
        pytest.skip("LAB COMPONENT MISSING: vcsim (run: bash tests/lab/lab up vcsim)")
    return lab


@dataclass
class Cli:
    """Runs `portable` as a user would, with the lab's endpoint and credentials."""

    lab: Lab
    manifest: Path
    state: Path
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **extra_env}
        return subprocess.run(
            [sys.executable, "-m", "portable.cli.main", *args, "-f", str(self.manifest), "--target", "vcsim", "--state", str(self.state)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def deploy(self, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return self("deploy", "--yes", **extra_env)

    def vms(self) -> list[Any]:
        with connect(self.lab) as content:
            return app_vms(content, self.env["APP_NAME"])

    def disk_files(self) -> list[str]:
        with connect(self.lab) as content:
            return [f for f in datastore_files(content, "LocalDS_0", f"portable-disks/{self.env['APP_NAME']}") if f.endswith(".vmdk")]

    def reporter(self) -> GuestIpReporter:
        return GuestIpReporter(self.lab, self.env["APP_NAME"])


def _base_env(lab: Lab, app_name: str) -> dict[str, str]:
    return {
        **os.environ,
        "APP_NAME": app_name,
        "LAB_VC_HOST": lab.host,
        "LAB_VC_PORT": str(lab.port),
        "VSPHERE_USER": lab.user,
        "VSPHERE_PASSWORD": lab.password,
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
        # vSphere offers no load balancer: one web VM, published on its own address
        "SHOP_WEB_REPLICAS": "1",
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
    "insecure": True,
    "template": "portable-template",
    "cluster": "DC0_C0",
    "folder": "portable",
    "datastore": "LocalDS_0",
    "network": "VM Network",
    "boot_timeout": 60,
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
