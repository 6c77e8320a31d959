"""Data disks: one VMDK file per volume and replica, kept apart from any VM.

They live at `[datastore] portable-disks/<app>/<service>.<volume>.vmdk`, so a VM can be
replaced (blue/green) or destroyed while its data stays; the path itself says which app and
service own the disk, which is how `observe` finds them (files carry no custom attributes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from portable.errors import NotFoundError
from portable.providers.vsphere.connection import IGNORED, Session

DISK_ROOT = "portable-disks"


@dataclass(frozen=True)
class DiskFile:
    """A data disk found on the datastore."""

    service: str
    name: str  # the volume resource name
    path: str  # full datastore path


def app_folder(datastore_name: str, app: str) -> str:
    return f"[{datastore_name}] {DISK_ROOT}/{app}"


def disk_path(datastore_name: str, app: str, service: str, name: str) -> str:
    return f"{app_folder(datastore_name, app)}/{service}.{name}.vmdk"


def create_disk(session: Session, datacenter: Any, path: str, size_gib: int, timeout: float) -> bool:
    """Creates a thin disk at `path`; False when it already exists (data is never replaced)."""
    content = session.content
    folder = path.rsplit("/", 1)[0]
    session.call(
        f"creating folder {folder}",
        lambda: content.fileManager.MakeDirectory(name=folder, datacenter=datacenter, createParentDirectories=True),
        ignore=(vim.fault.FileAlreadyExists,),
    )
    spec = vim.VirtualDiskManager.FileBackedVirtualDiskSpec(
        capacityKb=size_gib * 1024 * 1024, adapterType="lsiLogic", diskType="thin"
    )
    what = f"creating data disk {path}"
    task = session.call(
        what, lambda: content.virtualDiskManager.CreateVirtualDisk_Task(name=path, datacenter=datacenter, spec=spec)
    )
    outcome = session.wait_for_task(task, what, timeout=timeout, ignore=(vim.fault.FileAlreadyExists,))
    return outcome is not IGNORED


def grow_disk(session: Session, datacenter: Any, path: str, size_gib: int, timeout: float) -> None:
    """Extends a detached disk file to `size_gib` (the guest grows its filesystem on boot)."""
    what = f"growing data disk {path} to {size_gib} GiB"
    content = session.content
    task = session.call(
        what,
        lambda: content.virtualDiskManager.ExtendVirtualDisk_Task(
            name=path, datacenter=datacenter, newCapacityKb=size_gib * 1024 * 1024, eagerZero=False
        ),
    )
    session.wait_for_task(task, what, timeout=timeout)


def delete_disk(session: Session, datacenter: Any, path: str, timeout: float) -> None:
    what = f"deleting data disk {path}"
    content = session.content
    try:
        task = session.call(what, lambda: content.virtualDiskManager.DeleteVirtualDisk_Task(name=path, datacenter=datacenter))
        session.wait_for_task(task, what, timeout=timeout)
    except NotFoundError:
        return  # already gone


def remove_empty_folder(session: Session, datastore: Any, datacenter: Any, app: str) -> None:
    """Deletes the app's disk folder once its last disk is gone (best effort)."""
    if list_disks(session, datastore, app):
        return
    folder = app_folder(datastore.name, app)
    what = f"removing the empty folder {folder}"
    content = session.content
    task = session.call(what, lambda: content.fileManager.DeleteDatastoreFile_Task(name=folder, datacenter=datacenter))
    session.wait_for_task(task, what, timeout=120.0, ignore=(vim.fault.FileNotFound, vim.fault.FileFault))


def list_disks(session: Session, datastore: Any, app: str, timeout: float = 120.0) -> list[DiskFile]:
    """The data disks under the app's folder on `datastore` (none when the folder is absent)."""
    folder = app_folder(datastore.name, app)
    spec = vim.host.DatastoreBrowser.SearchSpec(matchPattern=["*.vmdk"])
    what = f"listing data disks in {folder}"
    try:
        task = session.call(what, lambda: datastore.browser.SearchDatastore_Task(datastorePath=folder, searchSpec=spec))
        result = session.wait_for_task(task, what, timeout=timeout)
    except NotFoundError:
        return []
    out: list[DiskFile] = []
    for info in result.file or []:
        stem = info.path.removesuffix(".vmdk")
        if stem.endswith("-flat") or "." not in stem:
            continue  # the data extent of a disk, or a file portable did not write
        service, _, name = stem.partition(".")
        out.append(DiskFile(service=service, name=name, path=f"{folder}/{info.path}"))
    return sorted(out, key=lambda d: (d.service, d.name))
