"""What a vSphere target without the guest account refuses while planning (issue 18, item 3
and its defects), before anything is built, pushed or cloned.

- A registry password (`registry.password_from`) would ride in guestinfo like a secret value:
  refused at `targets.vcsim.registry.password_from` in one sentence naming the variables and
  the opt-in; with `allow_secrets_in_metadata: true` plan goes on with the warning.
- The refusal runs before image pinning: on a target whose registry has a `prefix`, a
  `build:` service used to be built and pushed first. Now the lab registry gains no
  repository under that prefix and the engine no image of it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("pyVmomi")

pytestmark = pytest.mark.lab("vcsim", "registry", "docker", "images")

NO_ACCOUNT = {"VSPHERE_GUEST_USER": "", "VSPHERE_GUEST_PASSWORD": ""}


def target(vcsim: Any, **extra: Any) -> dict[str, Any]:
    return {"provider": "vsphere", "host": vcsim.host, "port": int(vcsim.port), "insecure": True, "template": vcsim.template,
            "datacenter": vcsim.datacenter, "cluster": vcsim.cluster, "folder": vcsim.folder, "datastore": vcsim.datastore,
            "network": vcsim.network, "boot_timeout": 60, **extra}


def write(tmp_path: Path, app: str, services: dict[str, Any], vcsim_target: dict[str, Any]) -> Path:
    doc = {"apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app}, "services": services,
           "secrets": {"api-token": {"from": "env:S18_API_TOKEN"}}, "targets": {"vcsim": vcsim_target}}
    path = tmp_path / "portable.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cli(path: Path, vcsim: Any, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    state = ["--state", str(path.parent / "state.db")] if args[0] != "validate" else []
    account = {"VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password}
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(path), "-t", "vcsim", *state],
                          env={**os.environ, **account, **NO_ACCOUNT, "S18_API_TOKEN": "s18-token-not-shown", **env}, capture_output=True, text=True, timeout=120)


def tags(registry: str, repository: str) -> list[str]:
    """The tags of `repository` in the lab registry ([] when it has none: 404 NAME_UNKNOWN)."""
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list", timeout=10) as answer:  # noqa: S310 - the lab registry
            return list(json.load(answer).get("tags") or [])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def test_a_registry_password_with_no_guest_account_is_refused_while_planning(tmp_path: Path, vcsim: Any) -> None:
    app = f"s18rp{uuid.uuid4().hex[:6]}"
    login = {"server": "127.0.0.1:5000", "username": "ci", "password_from": "env:S18_REGISTRY_PASSWORD"}
    path = write(tmp_path, app, {"web": {"image": "127.0.0.1:5000/lab/web:1"}}, target(vcsim, registry=login))
    password = "s18-registry-pw-" + uuid.uuid4().hex[:8]
    refusal = ("targets.vcsim.registry.password_from: target `vcsim` has no guest account (VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD are not both set), "
               "so the registry password would ride in guestinfo (the VMs' extraConfig), readable through the vSphere API: "
               "set both variables so portable writes it through VMware Tools after boot, or set `allow_secrets_in_metadata: true` on the target to accept that")
    for verb in (("validate",), ("plan",), ("deploy", "--yes")):
        done = cli(path, vcsim, *verb, S18_REGISTRY_PASSWORD=password)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "portable.yaml:" in done.stderr and refusal in done.stderr, done.stderr
        assert password not in done.stdout + done.stderr and "Traceback" not in done.stderr
    path = write(tmp_path, app, {"web": {"image": "127.0.0.1:5000/lab/web:1"}}, target(vcsim, registry=login, allow_secrets_in_metadata=True))
    accepted = cli(path, vcsim, "plan", S18_REGISTRY_PASSWORD=password)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert ("! targets.vcsim.registry.password_from: on target vcsim the registry password rides in guestinfo (the VM's extraConfig), "
            "readable through the vSphere API") in accepted.stdout, accepted.stdout
    assert password not in accepted.stdout + accepted.stderr


def test_the_refusal_comes_before_any_build_or_push(tmp_path: Path, vcsim: Any, registry: str, docker_host: str) -> None:
    app = f"s18pb{uuid.uuid4().hex[:6]}"
    prefix = f"s18pin{uuid.uuid4().hex[:6]}"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "Dockerfile").write_text(f"FROM lab/web:1\nRUN echo {app} > /www/app.txt\n")
    services = {"web": {"build": "./site", "ports": [{"port": 8080}], "secrets": [{"name": "api-token"}]}}
    path = write(tmp_path, app, services, target(vcsim, registry={"server": registry, "prefix": prefix}))
    for verb in (("plan",), ("deploy", "--yes")):
        done = cli(path, vcsim, *verb)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "services.web.secrets: target `vcsim` has no guest account" in done.stderr, done.stderr
        assert "building" not in done.stdout + done.stderr and "pushing" not in done.stdout + done.stderr
    assert tags(registry, f"{prefix}/{app}-web") == []  # nothing pushed
    images = subprocess.run(["docker", "-H", docker_host, "images", "--format", "{{.Repository}}"], capture_output=True, text=True, timeout=60)
    assert images.returncode == 0 and prefix not in images.stdout  # nothing built
