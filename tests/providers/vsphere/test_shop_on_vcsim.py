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

from portable.session import Session  # noqa: E402
from portable.providers.vm import render_cloud_init, resolve_group_secrets  # noqa: E402
from portable.providers.vsphere.readiness import VENDOR_SCRIPT  # noqa: E402
from portable.providers.vsphere.specs import disk_devices  # noqa: E402

pytestmark = pytest.mark.lab("vcsim")

ADD_HOST = re.compile(r"--add-host '?([a-z0-9-]+):([0-9.]+)'?")


def test_shop_runs_as_vms_with_its_resources_disks_guestinfo_and_addresses(shop_cli) -> None:
    with shop_cli.reporter():
        result = shop_cli.deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"revision \d+ deployed", result.stdout)

    by_service: dict[str, list] = {}
    for vm in shop_cli.vms():
        by_service.setdefault(vm.marks["portable.service"], []).append(vm)
    assert {s: len(v) for s, v in by_service.items()} == {"api": 1, "kv": 1, "web": 2, "worker": 1}
    everything = [vm for vms in by_service.values() for vm in vms]
    assert all(vm.power_state == "poweredOn" and vm.ip for vm in everything), [(v.name, v.power_state, v.ip) for v in everything]
    # resources + 256 MiB for the OS; no resources -> the target's defaults (1 vCPU, 1024 MiB)
    assert {s: {(vm.cpus, vm.memory_mb) for vm in v} for s, v in by_service.items()} == {
        "web": {(1, 128 + 256)},
        "api": {(1, 256 + 256)},
        "kv": {(1, 256 + 256)},
        "worker": {(1, 1024)},
    }
    [kv] = by_service["kv"]
    kv_disk = f"[{shop_cli.lab.datastore}] portable-disks/shop/kv.data.vmdk"
    assert kv.disks.get(kv_disk) == 1024 * 1024  # 1Gi in KiB
    assert not any("portable-disks" in path for vm in everything if vm is not kv for path in vm.disks)
    files = shop_cli.disk_files()
    assert kv_disk in files and all("/kv.data" in f for f in files), files

    # guestinfo decodes to exactly what providers/vm renders for the same group and replica
    session = Session.open(shop_cli.manifest, env=shop_cli.env, state=shop_cli.state)  # secret digests keyed by the test's state
    app = session.app("vcsim")
    groups = {r.name: r for r in session.provider("vcsim").translate(app) if r.kind == "instance-group"}
    for vm in everything:
        service, replica = vm.marks["portable.service"], int(vm.marks["portable.replica"])
        user_data = vm.decoded("guestinfo.userdata")
        hosts = dict(ADD_HOST.findall(user_data))
        group = groups[service]
        expected = render_cloud_init(
            app,
            group,
            secrets=resolve_group_secrets(app, group),
            hosts=hosts,
            disk_devices=disk_devices(group.spec, replica),
            replica=replica,
        )
        assert user_data == expected, vm.name
        assert json.loads(vm.decoded("guestinfo.metadata"))["instance-id"] == vm.name
        assert vm.decoded("guestinfo.vendordata") == VENDOR_SCRIPT
        assert vm.extra_config["guestinfo.portable.status"] == f"ready service={service} revision={group.spec['revision']}"
    # peers started before a service are reachable by name: web depends on api, api on kv
    [api] = by_service["api"]
    assert all(dict(ADD_HOST.findall(vm.decoded("guestinfo.userdata")))["api"] == api.ip for vm in by_service["web"])
    assert dict(ADD_HOST.findall(api.decoded("guestinfo.userdata")))["kv"] == kv.ip

    # the public web service is reached through its front proxy VM, which balances both replicas
    [proxy] = shop_cli.proxies()
    upstreams = ",".join(sorted(f"{vm.ip}:8080" for vm in by_service["web"]))
    assert proxy.power_state == "poweredOn" and proxy.ip
    assert proxy.extra_config["guestinfo.portable.backends"] == upstreams
    assert proxy.extra_config["guestinfo.portable.backends.applied"] == upstreams

    status = shop_cli("status", "-o", "json")
    assert status.returncode == 0, status.stderr
    services = {s["service"]: s for s in json.loads(status.stdout)["services"]}
    for service, vms in by_service.items():
        assert sorted(i["address"] for i in services[service]["instances"]) == sorted(vm.ip for vm in vms)
        assert services[service]["running"] == len(vms)
    assert services["web"]["endpoints"] == [f"http://{proxy.ip}:8000"]
    assert proxy.ip in shop_cli("status").stdout

    again = shop_cli.deploy()
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout
    assert sorted(vm.name for vm in shop_cli.vms(None)) == sorted([vm.name for vm in everything] + [proxy.name])
