"""Finds the vCenter objects a target names: datacenter, cluster or host, resource pool,
folder, datastore, network and template, each missing one reported by name with what exists.

Names may be plain names (searched in the datacenter) or inventory paths with `/`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from portable.errors import InputError, NotFoundError
from portable.providers.vsphere.settings import VsphereSettings


@dataclass(frozen=True)
class Placement:
    """Where new VMs go and what they are cloned from."""

    datacenter: Any  # vim.Datacenter
    pool: Any  # vim.ResourcePool
    host: Any | None  # vim.HostSystem when `esx_host` is set
    folder: Any  # vim.Folder
    datastore: Any | None  # vim.Datastore, None: keep the template's
    network: Any | None  # vim.Network or vim.dvs.DistributedVirtualPortgroup, None: keep the template's
    template: Any  # vim.VirtualMachine

    def describe(self) -> dict[str, str | None]:
        """Names only, for rendered specs and messages."""
        return {
            "datacenter": self.datacenter.name,
            "resource_pool": self.pool.name,
            "host": self.host.name if self.host is not None else None,
            "folder": self.folder.name,
            "datastore": self.datastore.name if self.datastore is not None else None,
            "network": self.network.name if self.network is not None else None,
            "template": self.template.name,
        }


def _objects(content: Any, root: Any, kind: type) -> list[Any]:
    view = content.viewManager.CreateContainerView(root, [kind], True)
    try:
        return list(view.view)
    finally:
        view.Destroy()


def _names(objs: list[Any]) -> str:
    names = sorted({o.name for o in objs})
    if not names:
        return "none exist"
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"found: {shown}"


def _by_name(content: Any, root: Any, kind: type, name: str, base_path: str | None, label: str, setting: str) -> Any:
    """The one object of `kind` called `name` (or at inventory path base_path/name)."""
    if "/" in name and base_path is not None:
        obj = content.searchIndex.FindByInventoryPath(f"{base_path}/{name.strip('/')}")
        if isinstance(obj, kind):
            return obj
        raise NotFoundError(f"{label} `{name}` does not exist in vCenter: fix `{setting}` in the target")
    candidates = _objects(content, root, kind)
    matches = [o for o in candidates if o.name == name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFoundError(f"{label} `{name}` does not exist in vCenter ({_names(candidates)}): fix `{setting}` in the target")
    raise InputError(f"{len(matches)} {label}s are named `{name}`: give `{setting}` as an inventory path")


def find_datacenter(content: Any, name: str | None) -> Any:
    dcs = _objects(content, content.rootFolder, vim.Datacenter)
    if name is None:
        if len(dcs) == 1:
            return dcs[0]
        raise InputError(f"vCenter has {len(dcs)} datacenters ({_names(dcs)}): set `datacenter` in the target")
    return _by_name(content, content.rootFolder, vim.Datacenter, name, "", "datacenter", "datacenter")


def _dc_path(content: Any, dc: Any) -> str:
    """The datacenter's inventory path (datacenters may sit in folders)."""
    parts = []
    obj = dc
    while obj is not None and obj != content.rootFolder:
        parts.append(obj.name)
        obj = obj.parent
    return "/".join(reversed(parts))


def find_pool(content: Any, dc: Any, settings: VsphereSettings) -> tuple[Any, Any | None]:
    """(resource pool, host or None) from `cluster` / `esx_host` / `resource_pool`."""
    base = f"{_dc_path(content, dc)}/host"
    host = None
    if settings.cluster:
        compute = _by_name(content, dc.hostFolder, vim.ClusterComputeResource, settings.cluster, base, "cluster", "cluster")
    elif settings.esx_host:
        host = _by_name(content, dc.hostFolder, vim.HostSystem, settings.esx_host, base, "ESXi host", "esx_host")
        compute = host.parent
    else:
        computes = _objects(content, dc.hostFolder, vim.ComputeResource)
        clusters = [c for c in computes if isinstance(c, vim.ClusterComputeResource)]
        if len(computes) == 1:
            compute = computes[0]
        elif len(clusters) == 1:
            compute = clusters[0]
        else:
            raise InputError(f"datacenter `{dc.name}` has several clusters and hosts ({_names(computes)}): set `cluster` or `esx_host` in the target")
    pool = compute.resourcePool
    if settings.resource_pool:
        for part in settings.resource_pool.strip("/").split("/"):
            children = list(pool.resourcePool)
            match = [p for p in children if p.name == part]
            if not match:
                raise NotFoundError(
                    f"resource pool `{settings.resource_pool}` does not exist under `{compute.name}` "
                    f"(at `{part}`: {_names(children)}): fix `resource_pool` in the target"
                )
            pool = match[0]
    return pool, host


def find_folder(content: Any, dc: Any, path: str | None) -> Any:
    folder = dc.vmFolder
    if not path:
        return folder
    for part in path.strip("/").split("/"):
        children = [c for c in folder.childEntity if isinstance(c, vim.Folder)]
        match = [c for c in children if c.name == part]
        if not match:
            raise NotFoundError(
                f"VM folder `{path}` does not exist in datacenter `{dc.name}` (at `{part}`: {_names(children)}): "
                "create it or fix `folder` in the target"
            )
        folder = match[0]
    return folder


def find_datastore(content: Any, dc: Any, name: str | None) -> Any | None:
    if name is None:
        return None
    stores = list(dc.datastore)
    match = [d for d in stores if d.name == name]
    if not match:
        raise NotFoundError(f"datastore `{name}` does not exist in datacenter `{dc.name}` ({_names(stores)}): fix `datastore` in the target")
    return match[0]


def find_network(content: Any, dc: Any, name: str | None) -> Any | None:
    """A standard port group (vim.Network) or a distributed port group, by name."""
    if name is None:
        return None
    networks = list({n._moId: n for n in dc.network}.values())  # a network may be listed twice
    match = [n for n in networks if n.name == name]
    if not match:
        raise NotFoundError(f"network `{name}` does not exist in datacenter `{dc.name}` ({_names(networks)}): fix `network` in the target")
    if len(match) > 1:
        raise InputError(f"{len(match)} networks are named `{name}` in datacenter `{dc.name}`: rename one in vCenter")
    return match[0]


def find_template(content: Any, dc: Any, name: str) -> Any:
    base = f"{_dc_path(content, dc)}/vm"
    vms = _objects(content, dc.vmFolder, vim.VirtualMachine)
    if "/" in name:
        return _by_name(content, dc.vmFolder, vim.VirtualMachine, name, base, "template", "template")
    match = [v for v in vms if v.name == name]
    if not match:
        templates = [v for v in vms if v.config is not None and v.config.template]
        raise NotFoundError(
            f"template `{name}` does not exist in datacenter `{dc.name}` (templates {_names(templates)}): fix `template` in the target"
        )
    if len(match) > 1:
        raise InputError(f"{len(match)} VMs are named `{name}`: give `template` as an inventory path")
    return match[0]


def resolve_placement(content: Any, settings: VsphereSettings) -> Placement:
    """Every object the target names, looked up once; the first missing one is reported."""
    dc = find_datacenter(content, settings.datacenter)
    pool, host = find_pool(content, dc, settings)
    return Placement(
        datacenter=dc,
        pool=pool,
        host=host,
        folder=find_folder(content, dc, settings.folder),
        datastore=find_datastore(content, dc, settings.datastore),
        network=find_network(content, dc, settings.network),
        template=find_template(content, dc, settings.template),
    )
