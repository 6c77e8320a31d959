"""examples/shop deployed to vSphere (the lab's vcsim) through the CLI, as a user would.

What is checked is what the user sees in vCenter and in `portable status`: one VM per
replica cloned from the template and powered on, CPU and memory from `resources`, the kv
data disk attached, guestinfo decoding to the shared VM runtime's cloud-init, the guest IPs,
and that an unchanged redeploy touches nothing.
"""
from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("pyVmomi")

from portable.manifest import load_app  # noqa: E402
from portable.providers.vm import render_cloud_init, resolve_group_secrets  # noqa: E402
from portable.providers.vsphere.provider import VsphereProvider  # noqa: E402
from portable.providers.vsphere.readiness import VENDOR_SCRIPT  # noqa: E402
from portable.providers.vsphere.specs import disk_devices  # noqa: E402

pytestmark = pytest.mark.lab("vcsim")

ADD_HOST = re.compile(r"--add-host '?([a-z0-9-]+):([0-9.]+)'?")


def test_shop_runs_as_vms_with_its_resources_disks_guestinfo_and_addresses(shop_cli) -> None:
    with shop_cli.reporter():
        result = shop_cli.deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"revision \d+ deployed", result.stdout)

    vms = {vm.marks["portable.service"]: vm for vm in shop_cli.vms()}
    assert sorted(vms) == ["api", "kv", "web", "worker"]
    assert all(vm.power_state == "poweredOn" and vm.ip for vm in vms.values()), [(v.name, v.power_state, v.ip) for v in vms.values()]
    # resources + 256 MiB for the OS; no resources -> the target's defaults (1 vCPU, 1024 MiB)
    assert {s: (vm.cpus, vm.memory_mb) for s, vm in vms.items()} == {
        "web": (1, 128 + 256),
        "api": (1, 256 + 256),
        "kv": (1, 256 + 256),
        "worker": (1, 1024),
    }
    kv_disk = f"[{shop_cli.lab.datastore}] portable-disks/shop/kv.data.vmdk"
    assert vms["kv"].disks.get(kv_disk) == 1024 * 1024  # 1Gi in KiB
    assert not any("portable-disks" in path for s, vm in vms.items() if s != "kv" for path in vm.disks)
    files = shop_cli.disk_files()
    assert kv_disk in files and all("/kv.data" in f for f in files), files

    # guestinfo decodes to exactly what providers/vm renders for the same group and replica
    app = load_app(shop_cli.manifest, "vcsim", shop_cli.env)
    groups = {r.name: r for r in VsphereProvider("vcsim", app.target.settings).translate(app) if r.kind == "instance-group"}
    for service, vm in vms.items():
        user_data = vm.decoded("guestinfo.userdata")
        hosts = dict(ADD_HOST.findall(user_data))
        group = groups[service]
        expected = render_cloud_init(
            app,
            group,
            secrets=resolve_group_secrets(app, group),
            hosts=hosts,
            disk_devices=disk_devices(group.spec, 0),
            replica=0,
        )
        assert user_data == expected, service
        meta = json.loads(vm.decoded("guestinfo.metadata"))
        assert meta["instance-id"] == vm.name
        assert vm.decoded("guestinfo.vendordata") == VENDOR_SCRIPT
        assert vm.extra_config["guestinfo.portable.status"] == f"ready service={service} revision={group.spec['revision']}"
    # peers started before a service are reachable by name: web depends on api, api on kv
    assert dict(ADD_HOST.findall(vms["web"].decoded("guestinfo.userdata")))["api"] == vms["api"].ip
    assert dict(ADD_HOST.findall(vms["api"].decoded("guestinfo.userdata")))["kv"] == vms["kv"].ip

    status = shop_cli("status", "-o", "json")
    assert status.returncode == 0, status.stderr
    services = {s["service"]: s for s in json.loads(status.stdout)["services"]}
    for service, vm in vms.items():
        assert [i["address"] for i in services[service]["instances"]] == [vm.ip]
        assert services[service]["running"] == 1
    assert services["web"]["endpoints"] == [f"http://{vms['web'].ip}:8000"]
    text = shop_cli("status")
    assert vms["web"].ip in text.stdout

    again = shop_cli.deploy()
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout
    assert sorted(vm.name for vm in shop_cli.vms()) == sorted(vm.name for vm in vms.values())


def test_more_than_one_public_web_replica_is_refused_before_anything_is_created(shop_cli) -> None:
    result = shop_cli.deploy(SHOP_WEB_REPLICAS="2")
    assert result.returncode == 2
    assert "load balancer" in result.stderr and "services.web.replicas" in result.stderr
    assert shop_cli.vms() == []
