"""`portable gc` on vSphere: every VM (not template) whose `portable.app` mark is set (custom
attribute, or the clone-time option: ownership.py), whatever app it names, every data disk
under `portable-disks/<app>/`, and their deletion.

vSphere marks carry no target (ownership.py), so `target` stays None: the app marks and the
store's history decide. A VM goes the way destroy removes it (powered off, its data disks
detached first, so they stay until gc is given --volumes).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pyVmomi import vim

from portable.errors import NotFoundError
from portable.manifest.app import App
from portable.providers.base import ApplyContext, OwnedObject
from portable.providers.vm import GROUP_KIND, VOLUME_KIND
from portable.providers.vsphere import disks as vdisks
from portable.providers.vsphere import machines
from portable.providers.vsphere.connection import Session
from portable.providers.vsphere.inventory import Placement
from portable.providers.vsphere.ownership import APP, KIND, SERVICE, Marks, _collect_vms, vm_marks
from portable.providers.vsphere.proxy import LB_KIND

ORDER = {"VM": 0, "disk": 1}


def _created(session: Session, vm: Any) -> datetime | None:
    try:
        when = session.call("reading a VM's creation date", lambda: vm.config.createDate)
    except Exception:  # an older vCenter or vcsim may not keep it: the age is then unknown
        return None
    return when if isinstance(when, datetime) else None


def disk_apps(session: Session, datastore: Any) -> set[str]:
    """The apps that have a folder of data disks under `portable-disks/` (a renamed app's
    disks outlive its VMs until gc is given --volumes)."""
    root = f"[{datastore.name}] {vdisks.DISK_ROOT}"
    spec = vim.host.DatastoreBrowser.SearchSpec(matchPattern=["*.vmdk"])
    what = f"listing the folders of {root}"
    try:
        task = session.call(what, lambda: datastore.browser.SearchDatastoreSubFolders_Task(datastorePath=root, searchSpec=spec))
        results = session.wait_for_task(task, what, timeout=120.0)
    except NotFoundError:
        return set()
    out = set()
    for r in results or []:
        rest = str(r.folderPath).split("]", 1)[-1].strip().strip("/")
        parts = rest.split("/")
        if len(parts) == 2 and parts[0] == vdisks.DISK_ROOT and r.file:
            out.add(parts[1])
    return out


def list_owned(session: Session, marks: Marks, datastore: Any, app: App) -> list[OwnedObject]:
    keys = marks.keys()
    by_key = {v: k for k, v in keys.items()}
    out: list[OwnedObject] = []
    for vm, props in session.call("listing VMs", lambda: _collect_vms(session.content)):
        found = vm_marks(props, by_key)  # custom attributes, or the clone-time option of a VM never stamped
        if not found.get(APP) or props.get("config.template"):
            continue
        kind = found.get(KIND, GROUP_KIND)
        service = found.get(SERVICE) or None
        out.append(OwnedObject(
            kind="VM", name=str(props.get("name", "")), app=found[APP], resource=f"{LB_KIND if kind == LB_KIND else GROUP_KIND}/{service}",
            service=service, created=_created(session, vm), labels=found, ref={"vm": vm}, order=ORDER["VM"],
        ))
    for name in sorted({o.app for o in out} | {app.name} | disk_apps(session, datastore)):
        for disk in vdisks.list_disks(session, datastore, name):
            out.append(OwnedObject(kind="disk", name=disk.path, app=name, resource=f"{VOLUME_KIND}/{disk.name}", service=disk.service,
                                   stateful=True, labels={"folder": vdisks.app_folder(datastore.name, name)}, ref={"path": disk.path},
                                   order=ORDER["disk"]))
    return out


class VsphereOwned:
    """The OwnedLister role of VsphereProvider (LIST_OWNED)."""

    # provided by VsphereProvider, which this is mixed into
    session: Session
    marks: Marks
    placement: Callable[[], Placement]
    datastore_name: Callable[[], str]
    _datastore: Callable[[], Any]

    def list_owned(self, app: App) -> list[OwnedObject]:
        return list_owned(self.session, self.marks, self._datastore(), app)

    def delete_owned(self, obj: OwnedObject, ctx: ApplyContext) -> None:
        if obj.kind == "VM":
            keep = vdisks.app_folder(self.datastore_name(), obj.app) + "/"
            machines.destroy_vm(self.session, obj.ref["vm"], keep_prefix=keep, timeout=ctx.timeout)
        elif obj.kind == "disk":
            datacenter = self.placement().datacenter
            vdisks.delete_disk(self.session, datacenter, str(obj.ref["path"]), ctx.timeout)
            vdisks.remove_empty_folder(self.session, self._datastore(), datacenter, obj.app)
        else:
            raise ValueError(f"the vsphere provider does not list {obj.kind} objects")
