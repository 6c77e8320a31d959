"""Pure helpers: VM size, names, data-disk identities and guestinfo for one VM of a group.

No vCenter access here, so `translate` and `render` use the very functions `apply` uses,
and the rendered clone specs are what apply would send (with secret placeholders).
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from portable.manifest.model import Service
from portable.providers.vm import group_disks
from portable.providers.vm.sizing import OS_HEADROOM_MIB
from portable.providers.vsphere.disks import disk_path
from portable.providers.vsphere.machines import CloneRequest, DataDisk
from portable.providers.vsphere.ownership import APP, DIGEST, REPLICA, REVISION, SERVICE
from portable.providers.vsphere.readiness import vendor_guestinfo
from portable.providers.vsphere.settings import VsphereSettings

MIB = 1024 * 1024
TEMPLATE_DATASTORE = "<template's datastore>"  # shown by render when `datastore` is not set
SCSI_RESERVED_UNIT = 7  # the controller's own unit number on a SCSI bus


def vm_size(name: str, service: Service, settings: VsphereSettings) -> str:
    """`CPUSxMEMORY_MIB` for a service: explicit, else its resources plus OS headroom."""
    explicit = settings.instance_types.get(name) or settings.instance_type
    if explicit:
        return explicit
    cpus = max(1, math.ceil(service.resources.cpu_cores)) if service.resources.cpu_cores else settings.cpus
    if service.resources.memory_bytes:
        memory = math.ceil(service.resources.memory_bytes / MIB) + OS_HEADROOM_MIB
        memory = int(math.ceil(memory / 4) * 4)  # vSphere wants multiples of 4 MiB
    else:
        memory = settings.memory_mb
    return f"{cpus}x{memory}"


def parse_size(size: str) -> tuple[int, int]:
    cpus, _, memory = size.partition("x")
    return int(cpus), int(memory)


def vm_name(spec: Mapping[str, Any], replica: int) -> str:
    """`<app>-<service>-<revision8>-<replica>`: unique per revision, so blue and green coexist."""
    return f"{spec['app']}-{spec['service']}-{spec['revision'][:8]}-{replica}"


def disk_uuid_hex(app: str, service: str, name: str) -> str:
    """A stable NAA-style id (32 hex digits) given to a data disk, so the guest finds it by id."""
    digest = hashlib.sha256(f"portable-disk:{app}/{service}/{name}".encode()).hexdigest()
    return "6000c29" + digest[:25]


def vmdk_uuid(hex32: str) -> str:
    """The VirtualDiskManager form: `60 00 C2 9a bc de f0 12-34 56 78 9a bc de f0 12`."""
    pairs = [hex32[i : i + 2] for i in range(0, 32, 2)]
    return " ".join(pairs[:8]) + "-" + " ".join(pairs[8:])


def disk_devices(spec: Mapping[str, Any], replica: int) -> dict[int, list[str]]:
    """Where each data disk shows up in the guest (disk.EnableUUID exposes the id)."""
    out: dict[int, list[str]] = {}
    for disk in group_disks(spec, replica):
        uid = disk_uuid_hex(spec["app"], spec["service"], disk.name)
        out[disk.index] = [f"/dev/disk/by-id/wwn-0x{uid}", f"/dev/disk/by-id/scsi-3{uid}"]
    return out


def data_disks(spec: Mapping[str, Any], replica: int, datastore_name: str) -> tuple[DataDisk, ...]:
    disks = []
    for disk in group_disks(spec, replica):
        unit = disk.index if disk.index < SCSI_RESERVED_UNIT else disk.index + 1
        path = disk_path(datastore_name, spec["app"], spec["service"], disk.name)
        disks.append(DataDisk(name=disk.name, file=path, size_gib=disk.size_gib, unit=unit))
    return tuple(disks)


def guestinfo(user_data: str, name: str) -> dict[str, str]:
    """extraConfig for cloud-init's VMware datasource: user data and metadata, base64."""
    # cleanup-guestinfo: cloud-init blanks guestinfo.userdata once read, so processes in the
    # guest cannot read the secrets it carries later
    metadata = json.dumps(
        {"instance-id": name, "local-hostname": name, "cleanup-guestinfo": ["userdata"]}, sort_keys=True
    )
    return {
        "guestinfo.userdata": base64.b64encode(user_data.encode()).decode(),
        "guestinfo.userdata.encoding": "base64",
        "guestinfo.metadata": base64.b64encode(metadata.encode()).decode(),
        "guestinfo.metadata.encoding": "base64",
        **vendor_guestinfo(),
        "disk.EnableUUID": "TRUE",
    }


def decode_guestinfo(extra_config: Mapping[str, str], key: str = "guestinfo.userdata") -> str:
    """The text behind a guestinfo key (the inverse of `guestinfo`)."""
    value = extra_config[key]
    if extra_config.get(f"{key}.encoding") in ("base64", "b64"):
        return base64.b64decode(value).decode()
    return value


def clone_request(
    group: Any,  # the instance-group Resource
    replica: int,
    *,
    user_data: str,
    datastore_name: str,
) -> CloneRequest:
    """What one VM of the group is cloned with."""
    spec = group.spec
    cpus, memory = parse_size(spec["instance_size"])
    name = vm_name(spec, replica)
    return CloneRequest(
        name=name,
        cpus=cpus,
        memory_mb=memory,
        disks=data_disks(spec, replica, datastore_name),
        extra_config={**spec.get("extra_config", {}), **guestinfo(user_data, name)},
        marks={
            APP: spec["app"],
            SERVICE: spec["service"],
            REVISION: spec["revision"],
            DIGEST: group.digest,
            REPLICA: str(replica),
        },
    )


def peer_hosts(peers: Sequence[str], addresses: Mapping[str, str]) -> dict[str, str]:
    """peer service -> address of its first VM, for the peers that have one."""
    return {p: addresses[p] for p in peers if p in addresses}
