"""`portable render --target vcsim`: clone specs and guestinfo, written without vCenter.

What a user reads before deploying: one clone spec per VM with the CPU, memory and data
disks the manifest asks for, and guestinfo that decodes to the shared VM runtime's
cloud-init (with placeholders, never secret values).
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyVmomi")

from portable.manifest import load_app  # noqa: E402
from portable.providers.vm import render_cloud_init  # noqa: E402
from portable.providers.vsphere.provider import VsphereProvider  # noqa: E402
from portable.providers.vsphere.proxy import proxy_group_spec  # noqa: E402
from portable.providers.vsphere.specs import disk_devices  # noqa: E402

APP = Path(__file__).parent / "app" / "portable.yaml"
SECRET = "s3cr3t-value-never-rendered"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, VSHOP_API_KEY=SECRET, APP_NAME="vshop")
    env.update(extra)
    return env


def _render(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "portable.cli.main", "render", "-f", str(APP), "--target", "vcsim", "-o", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, out


def test_render_writes_one_clone_spec_per_vm_with_resources_and_disks(tmp_path: Path) -> None:
    result, out = _render(tmp_path)
    assert result.returncode == 0, result.stderr
    clones = {p.name.removesuffix(".clone.json"): json.loads(p.read_text()) for p in out.glob("*.clone.json")}
    by_service: dict[str, list[dict]] = {}
    proxies = {}
    for spec in clones.values():
        if spec["custom_attributes"].get("portable.kind") == "load-balancer":
            proxies[spec["custom_attributes"]["portable.service"]] = spec
            continue
        by_service.setdefault(spec["custom_attributes"]["portable.service"], []).append(spec)
    # the public http service gets a front proxy VM: kamal-proxy on the published port
    assert list(proxies) == ["web"]
    lb = proxies["web"]
    assert (lb["name"], lb["cpus"], lb["memory_mb"]) == ("vshop-web-lb", 1, 1024)
    assert lb["extra_config"]["guestinfo.portable.backends"] == "none"
    lb_user_data = (out / "vshop-web-lb.user-data.yaml").read_text()
    assert "kamal-proxy" in lb_user_data and '-p "${BIND}80:80/tcp"' in lb_user_data
    relay = (out / "vshop-web-lb.vendor-data.sh").read_text()
    assert "info-get guestinfo.portable.backends" in relay and "kamal-proxy deploy web" in relay
    assert sorted((s, len(v)) for s, v in by_service.items()) == [("kv", 1), ("web", 1), ("worker", 2)]
    web, kv = by_service["web"][0], by_service["kv"][0]
    assert (web["cpus"], web["memory_mb"]) == (2, 1024 + 256)  # 1Gi for the container + OS headroom
    assert (kv["cpus"], kv["memory_mb"]) == (1, 512 + 256)
    assert kv["data_disks"] == [
        {"name": "data", "file": "[LocalDS_0] portable-disks/vshop/kv.data.vmdk", "size_gib": 2, "unit": 0}
    ]
    assert web["data_disks"] == []
    assert web["placement"]["template"] == "portable-template"
    assert web["extra_config"]["guestinfo.userdata.encoding"] == "base64"
    assert web["extra_config"]["guestinfo.metadata.encoding"] == "base64"
    meta = json.loads(base64.b64decode(web["extra_config"]["guestinfo.metadata"]))
    assert meta["instance-id"] == web["name"]


def test_rendered_guestinfo_is_the_shared_vm_runtime_cloud_init_without_secrets(tmp_path: Path) -> None:
    result, out = _render(tmp_path)
    assert result.returncode == 0, result.stderr
    app = load_app(APP, "vcsim", _env())
    provider = VsphereProvider("vcsim", app.target.settings)
    groups = {r.name: r for r in provider.translate(app) if r.kind == "instance-group"}
    proxies = {r.name: r for r in provider.translate(app) if r.kind == "load-balancer"}
    for clone_file in out.glob("*.clone.json"):
        spec = json.loads(clone_file.read_text())
        if spec["custom_attributes"].get("portable.kind") == "load-balancer":
            lb = proxies[spec["custom_attributes"]["portable.service"]]
            expected = render_cloud_init(app, proxy_group_spec(lb), hosts={}, replica=0)
            assert base64.b64decode(spec["extra_config"]["guestinfo.userdata"]).decode() == expected
            continue
        group = groups[spec["custom_attributes"]["portable.service"]]
        replica = int(spec["custom_attributes"]["portable.replica"])
        expected = render_cloud_init(app, group, hosts={}, disk_devices=disk_devices(group.spec, replica), replica=replica)
        user_data = base64.b64decode(spec["extra_config"]["guestinfo.userdata"]).decode()
        assert user_data == expected
        assert (out / f"{spec['name']}.user-data.yaml").read_text() == expected
    everything = "".join(p.read_text() for p in out.iterdir())
    assert SECRET not in everything
    assert base64.b64encode(SECRET.encode()).decode() not in everything


def test_guestinfo_is_the_aws_targets_user_data_but_for_machine_size_and_disk_paths(tmp_path: Path) -> None:
    """Both IaaS targets boot the same cloud-init; only the revision (which hashes the machine
    size) and where the cloud attaches data disks differ. Public http is served on the
    container port behind a load balancer on both (AWS's ALB, vSphere's front proxy VM)."""
    pytest.importorskip("boto3")
    import re

    import yaml

    data = yaml.safe_load(APP.read_text())
    data["targets"]["aws"] = {"provider": "aws", "region": "us-east-1", "instance_type": "t3.micro"}
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    outs = {}
    for target in ("vcsim", "aws"):
        outs[target] = tmp_path / target
        result = subprocess.run(
            [sys.executable, "-m", "portable.cli.main", "render", "-f", str(manifest), "--target", target, "-o", str(outs[target])],
            env=_env(), capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr

    def normalized(text: str) -> str:
        revision = re.search(r"revision=([0-9a-f]{12})", text)
        assert revision, text[:300]
        text = text.replace(revision.group(1), "<revision>")
        return re.sub(r"(mount_disk \S+ \S+).*", r"\1 <cloud's device paths>", text)

    compared = 0
    for service in ("web", "kv", "worker"):
        aws = (outs["aws"] / "user-data" / f"{service}.yaml").read_text()
        [vsphere_file] = outs["vcsim"].glob(f"vshop-{service}-*-0.user-data.yaml")
        assert normalized(vsphere_file.read_text()) == normalized(aws), service
        compared += 1
    assert compared == 3
    [web] = outs["vcsim"].glob("vshop-web-*-0.user-data.yaml")
    assert '-p "${BIND}8080:8080/tcp"' in web.read_text()


def _with_target_lines(tmp_path: Path, lines: str) -> Path:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(APP.read_text().replace("    credentials_file: ${VC_CREDENTIALS_FILE:-}\n", "    credentials_file: ${VC_CREDENTIALS_FILE:-}\n" + lines))
    return manifest


def test_extra_config_reaches_every_service_vm_and_rolls_them_when_changed(tmp_path: Path) -> None:
    manifest = _with_target_lines(tmp_path, '    extra_config: {disk.EnableUUID: "TRUE"}\n')
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "portable.cli.main", "render", "-f", str(manifest), "--target", "vcsim", "-o", str(out)],
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    clones = [json.loads(p.read_text()) for p in out.glob("*.clone.json")]
    services = [c for c in clones if c["custom_attributes"].get("portable.kind") != "load-balancer"]
    assert services and all(c["extra_config"]["disk.EnableUUID"] == "TRUE" for c in services)
    assert all("guestinfo.userdata" in c["extra_config"] for c in services)  # portable's own keys stay
    app = load_app(manifest, target="vcsim", env=_env())
    plain = load_app(APP, target="vcsim", env=_env())
    digests = {r.key: r.digest for r in VsphereProvider("vcsim", app.target.settings).translate(app) if r.kind == "instance-group"}
    before = {r.key: r.digest for r in VsphereProvider("vcsim", plain.target.settings).translate(plain) if r.kind == "instance-group"}
    assert digests.keys() == before.keys() and all(digests[k] != before[k] for k in digests)


def test_extra_config_cannot_override_portables_guestinfo(tmp_path: Path) -> None:
    manifest = _with_target_lines(tmp_path, "    extra_config: {guestinfo.userdata: x}\n")
    result = subprocess.run([sys.executable, "-m", "portable.cli.main", "validate", "-f", str(manifest)],
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "extra_config" in result.stderr and "guestinfo.userdata" in result.stderr
