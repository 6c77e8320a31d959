"""`portable render --target <vsphere>`: the clone specs and guestinfo apply would send.

Written without contacting vCenter, with secret placeholders in the user data. Per VM:
`<vm>.clone.json` (placement, CPU, memory, data disks, extraConfig keys, ownership marks),
`<vm>.user-data.yaml` (the cloud-init guestinfo.userdata decodes to) and
`<vm>.meta-data.json`, `<vm>.vendor-data.sh` (relays readiness, readiness.py; on front proxy
VMs also the upstreams, proxy.py); per data disk one entry in `disks.json`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from portable import pretty_json
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.vm import GROUP_KIND, VOLUME_KIND, render_cloud_init
from portable.providers.vsphere.disks import disk_path
from portable.providers.vsphere.settings import VsphereSettings
from portable.providers.vsphere.proxy import LB_KIND, proxy_clone_request, proxy_group_spec
from portable.providers.vsphere.specs import TEMPLATE_DATASTORE, clone_request, decode_guestinfo, disk_devices


def placement_names(settings: VsphereSettings) -> dict[str, Any]:
    return {
        "vcenter": f"{settings.host}:{settings.port}",
        "datacenter": settings.datacenter or "<the only datacenter>",
        "cluster": settings.cluster,
        "esx_host": settings.esx_host,
        "resource_pool": settings.resource_pool or "<root pool>",
        "folder": settings.folder or "<datacenter VM folder>",
        "datastore": settings.datastore or TEMPLATE_DATASTORE,
        "network": settings.network or "<template's network>",
        "template": settings.template,
        "linked_clone": "when the template has a snapshot" if settings.linked_clone else False,
    }


def render_files(app: App, resources: list[Resource], outdir: Path, settings: VsphereSettings) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    datastore = settings.datastore or TEMPLATE_DATASTORE
    written: list[Path] = []
    disks = []
    for res in resources:
        if res.kind == VOLUME_KIND:
            disks.append({
                "name": res.name,
                "service": res.service,
                "size_gib": res.spec["size_gib"],
                "path": disk_path(datastore, app.name, res.service or "", res.name),
                "stateful": True,
            })
        requests = []
        if res.kind == LB_KIND:
            text = render_cloud_init(app, proxy_group_spec(res), registry=settings.registry, hosts={}, replica=0)
            requests.append(proxy_clone_request(res, text, []))
        elif res.kind == GROUP_KIND:
            for replica in range(int(res.spec["replicas"])):
                text = render_cloud_init(app, res, registry=settings.registry, hosts={}, disk_devices=disk_devices(res.spec, replica), replica=replica)
                requests.append(clone_request(res, replica, user_data=text, datastore_name=datastore))
        for request in requests:
            name = request.name
            clone = {
                "name": name,
                "placement": placement_names(settings),
                "cpus": request.cpus,
                "memory_mb": request.memory_mb,
                "data_disks": [d.__dict__ for d in request.disks],
                "extra_config": request.extra_config,
                "custom_attributes": request.marks,
                "power_on": True,
            }
            for path, body in (
                (outdir / f"{name}.clone.json", pretty_json.dumps(clone) + "\n"),
                (outdir / f"{name}.user-data.yaml", decode_guestinfo(request.extra_config)),
                (outdir / f"{name}.meta-data.json", decode_guestinfo(request.extra_config, "guestinfo.metadata") + "\n"),
                (outdir / f"{name}.vendor-data.sh", decode_guestinfo(request.extra_config, "guestinfo.vendordata")),
            ):
                path.write_text(body)
                written.append(path)
    if disks:
        path = outdir / "disks.json"
        path.write_text(pretty_json.dumps(disks) + "\n")
        written.append(path)
    return written
