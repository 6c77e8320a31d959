"""VM lifecycle on vCenter: clone from the template, power, wait for the guest IP, delete.

A `CloneRequest` is plain data (what `render` writes); `clone_vm` turns it into a
vim.vm.CloneSpec: CPU and memory, the NIC re-pointed to the target network, the data disks
attached from their files, guestinfo in extraConfig, the ownership marks in one more option
(so a clone whose task outlives a cut run is still the app's: ownership.py), and a linked
clone when the template has a snapshot.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pyVmomi import vim

from portable.engine import cancel
from portable.engine.retry import retry_transient
from portable.errors import HealthCheckError, TargetError, TransientError
from portable.providers.vsphere.connection import IGNORED, Session
from portable.providers.vsphere.inventory import Placement
from portable.providers.vsphere.ownership import MARKS_OPTION, clone_marks

# Data disks hang off their own SCSI controller so the template's disks keep their slots.
DATA_CONTROLLER_BUS = 3
DATA_CONTROLLER_KEY = -101


@dataclass(frozen=True)
class DataDisk:
    """One existing data disk file attached to a new VM."""

    name: str  # the volume resource name, e.g. `data` or `data-1`
    file: str  # datastore path, e.g. `[LocalDS_0] portable-disks/shop/db.data.vmdk`
    size_gib: int
    unit: int  # SCSI unit on the data controller


@dataclass(frozen=True)
class CloneRequest:
    """Everything one new VM is created with; JSON-serialisable for `render`."""

    name: str
    cpus: int
    memory_mb: int
    disks: tuple[DataDisk, ...] = ()
    extra_config: dict[str, str] = field(default_factory=dict)
    marks: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def template_snapshot(template: Any) -> Any | None:
    """The template's current snapshot (linked clones grow from it), or None."""
    snapshot = getattr(template, "snapshot", None)  # unset on a template without snapshots
    return getattr(snapshot, "currentSnapshot", None) if snapshot is not None else None


def _nic_change(template: Any, network: Any) -> list[Any]:
    """Edit the template's first NIC to use `network` (standard or distributed port group)."""
    nics = [d for d in template.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    if not nics:
        return []
    nic = nics[0]
    if isinstance(network, vim.dvs.DistributedVirtualPortgroup):
        backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(
                portgroupKey=network.key, switchUuid=network.config.distributedVirtualSwitch.uuid
            )
        )
    else:
        backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(network=network, deviceName=network.name)
    nic.backing = backing
    return [vim.vm.device.VirtualDeviceSpec(operation=vim.vm.device.VirtualDeviceSpec.Operation.edit, device=nic)]


def _data_disk_changes(disks: tuple[DataDisk, ...]) -> list[Any]:
    """A paravirtual SCSI controller plus each data disk attached from its existing file."""
    if not disks:
        return []
    controller = vim.vm.device.ParaVirtualSCSIController(
        key=DATA_CONTROLLER_KEY, busNumber=DATA_CONTROLLER_BUS, sharedBus=vim.vm.device.VirtualSCSIController.Sharing.noSharing
    )
    changes = [vim.vm.device.VirtualDeviceSpec(operation=vim.vm.device.VirtualDeviceSpec.Operation.add, device=controller)]
    for i, disk in enumerate(disks):
        device = vim.vm.device.VirtualDisk(
            key=-(200 + i),
            controllerKey=DATA_CONTROLLER_KEY,
            unitNumber=disk.unit,
            capacityInKB=disk.size_gib * 1024 * 1024,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName=disk.file, diskMode="independent_persistent", thinProvisioned=True
            ),
        )
        # no fileOperation: attach the existing file, never create or replace it
        changes.append(vim.vm.device.VirtualDeviceSpec(operation=vim.vm.device.VirtualDeviceSpec.Operation.add, device=device))
    return changes


def clone_spec(request: CloneRequest, placement: Placement, *, linked_clone: bool) -> Any:
    """The vim.vm.CloneSpec for `request` (not powered on: marks are written first)."""
    relocate = vim.vm.RelocateSpec(pool=placement.pool)
    if placement.host is not None:
        relocate.host = placement.host
    if placement.datastore is not None:
        relocate.datastore = placement.datastore
    snapshot = template_snapshot(placement.template) if linked_clone else None
    if snapshot is not None:
        relocate.diskMoveType = "createNewChildDiskBacking"
    changes = _nic_change(placement.template, placement.network) if placement.network is not None else []
    changes += _data_disk_changes(request.disks)
    options = dict(request.extra_config)
    if request.marks:  # owned from birth: the custom attributes only come after the task
        options[MARKS_OPTION] = clone_marks(request.name, request.marks)
    config = vim.vm.ConfigSpec(
        numCPUs=request.cpus,
        memoryMB=request.memory_mb,
        deviceChange=changes,
        extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in sorted(options.items())],
    )
    spec = vim.vm.CloneSpec(location=relocate, config=config, powerOn=False, template=False)
    if snapshot is not None:
        spec.snapshot = snapshot
    return spec


def clone_vm(session: Session, request: CloneRequest, placement: Placement, *, linked_clone: bool, timeout: float) -> Any:
    """Clones the template into the target folder and returns the new VM (powered off).

    A clone is not repeated blindly: when a try fails on the wire (its task may have been
    created, its answer lost), the folder is searched for the VM by its name before the next
    try, and a VM found there is the one that try made. vCenter refuses a second VM of the
    same name in a folder (DuplicateName), which a retry then reads as "look again"."""
    what = f"cloning the template into VM `{request.name}`"
    spec = session.call(f"reading the template for {what}", lambda: clone_spec(request, placement, linked_clone=linked_clone))
    tries = 0

    @retry_transient(attempts=5, max_seconds=120.0)
    def once() -> Any:
        nonlocal tries
        tries += 1
        if tries > 1:
            found = session.call(f"looking for VM `{request.name}`", lambda: session.content.searchIndex.FindChild(placement.folder, request.name))
            if found is not None:
                return found
        try:
            task = session.call(what, lambda: placement.template.CloneVM_Task(folder=placement.folder, name=request.name, spec=spec))
            return session.wait_for_task(task, what, timeout=timeout)
        except TargetError as exc:
            duplicate = isinstance(exc.__cause__ or exc.__context__, vim.fault.DuplicateName) or "already exists" in exc.message
            if duplicate and tries > 1:
                raise TransientError(f"VM `{request.name}` is still being cloned by an earlier try; looking again") from exc
            if duplicate:  # a run cut short between the clone and its marks (Ctrl-C, a crash) left it unmarked
                found = session.call(f"looking for VM `{request.name}`", lambda: session.content.searchIndex.FindChild(placement.folder, request.name))
                if found is not None and _cloned_for(session, found, request):
                    return found  # the caller marks it now, so it is observed (and collected) as the app's
            raise

    return once()


def _cloned_for(session: Session, vm: Any, request: CloneRequest) -> bool:
    """True when `vm` was cloned from this very request: its extraConfig holds every option the
    request sets (the replica's user data among them), which a VM of someone else's does not."""
    if not request.extra_config:
        return False
    options = session.read(vm, "config.extraConfig", f"reading the options of VM `{request.name}`") or []
    found = {str(o.key): str(o.value) for o in options}
    return all(found.get(k) == str(v) for k, v in request.extra_config.items())


def power_state(session: Session, vm: Any) -> str:
    return str(session.read(vm, "runtime.powerState", "reading a VM's power state"))


def power_on(session: Session, vm: Any, timeout: float) -> None:
    what = f"powering on VM `{vm.name}`"
    if power_state(session, vm) == vim.VirtualMachinePowerState.poweredOn:
        return
    session.wait_for_task(session.call(what, vm.PowerOnVM_Task), what, timeout=timeout)


def power_off(session: Session, vm: Any, timeout: float) -> None:
    what = f"powering off VM `{vm.name}`"
    if power_state(session, vm) == vim.VirtualMachinePowerState.poweredOff:
        return
    session.wait_for_task(session.call(what, vm.PowerOffVM_Task), what, timeout=timeout)


def grow_attached_disk(session: Session, vm: Any, path: str, size_gib: int, timeout: float) -> bool:
    """Grows the disk backed by `path` on `vm` (online); False when `vm` does not hold it."""
    for device in vm.config.hardware.device:
        if isinstance(device, vim.vm.device.VirtualDisk) and getattr(device.backing, "fileName", None) == path:
            device.capacityInKB = size_gib * 1024 * 1024
            change = vim.vm.device.VirtualDeviceSpec(operation=vim.vm.device.VirtualDeviceSpec.Operation.edit, device=device)
            what = f"growing data disk {path} of VM `{vm.name}` to {size_gib} GiB"
            spec = vim.vm.ConfigSpec(deviceChange=[change])
            task = session.call(what, functools.partial(vm.ReconfigVM_Task, spec=spec))
            session.wait_for_task(task, what, timeout=timeout)
            return True
    return False


def detach_data_disks(session: Session, vm: Any, keep_prefix: str, timeout: float) -> None:
    """Removes disks whose file starts with `keep_prefix` without deleting the files (so Destroy keeps them)."""
    changes = []
    for device in vm.config.hardware.device:
        if isinstance(device, vim.vm.device.VirtualDisk) and str(getattr(device.backing, "fileName", "")).startswith(keep_prefix):
            changes.append(vim.vm.device.VirtualDeviceSpec(operation=vim.vm.device.VirtualDeviceSpec.Operation.remove, device=device))
    if not changes:
        return
    what = f"detaching data disks from VM `{vm.name}`"
    task = session.call(what, lambda: vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=changes)))
    session.wait_for_task(task, what, timeout=timeout)


DESTROY_ATTEMPTS = 3


def destroy_vm(session: Session, vm: Any, *, keep_prefix: str, timeout: float) -> None:
    """Powers off, detaches the data disks (files under `keep_prefix`), destroys the VM with its own disks.

    A VM found powered on again between the power-off and the delete (HA, a user, a guest
    that took long to stop) is powered off again, a bounded number of times.
    """
    what = f"deleting VM `{vm.name}`"
    for attempt in range(DESTROY_ATTEMPTS):
        power_off(session, vm, timeout)
        if attempt == 0:
            detach_data_disks(session, vm, keep_prefix, timeout)
        task = session.call(what, vm.Destroy_Task, ignore=(vim.fault.InvalidPowerState,))
        if task is not None and session.wait_for_task(task, what, timeout=timeout, ignore=(vim.fault.InvalidPowerState,)) is not IGNORED:
            return
        cancel.pause(1 + attempt)
    raise TargetError(f"VM `{vm.name}` was powered on again each time it was being deleted ({DESTROY_ATTEMPTS} attempts): "
                      "check vSphere HA or whoever powers it on, then run destroy again")


def attached_files(vm_devices: list[Any]) -> dict[str, int]:
    """Datastore path -> capacity (KiB) of every disk in a VM's device list."""
    out: dict[str, int] = {}
    for device in vm_devices:
        if isinstance(device, vim.vm.device.VirtualDisk):
            name = getattr(device.backing, "fileName", None)
            if name:
                out[name] = int(device.capacityInKB or 0)
    return out


def wait_for_ip(session: Session, vm: Any, timeout: float, *, limit: float | None = None) -> str:
    """The guest IP VMware Tools reports; HealthCheckError after `timeout` seconds
    (`limit`: the budget to name in the message, default `timeout`)."""
    deadline = time.monotonic() + timeout
    delay = 0.3
    while True:
        ip = session.read(vm, "guest.ipAddress", f"reading the guest IP of VM `{vm.name}`")
        if ip:
            return str(ip)
        if time.monotonic() > deadline:
            tools = session.read(vm, "guest.toolsRunningStatus", f"reading VM `{vm.name}`")
            raise HealthCheckError(
                f"VM `{vm.name}` reported no IP address within {math.ceil(limit or timeout)}s",
                details=f"power state: {power_state(session, vm)}; VMware Tools: {tools or 'not running'}",
                hint="check that the template has VMware Tools (or open-vm-tools) and that its network hands out addresses (DHCP)",
            )
        cancel.pause(min(delay, max(0.0, deadline - time.monotonic()) + 0.05))
        delay = min(delay * 1.5, 5.0)
