"""Test helpers that look at vcsim directly with pyVmomi: what a user would see in vCenter.

`GuestIpReporter` plays the guest: vcsim runs no guest OS, so a powered-on VM never reports
an address or a status by itself. For the address it uses vcsim's documented hook, extraConfig
`SET.guest.ipAddress` (through ReconfigVM), after which `guest.ipAddress` reads back the value
exactly as VMware Tools would make it on vCenter. For the service it sets
`guestinfo.portable.status` to what the bootstrap would write (`ready service=S revision=R`,
or `failed: ...` for an image listed in `failing_images`), as the vendor-data relay does in
a real guest with `vmware-rpctool info-set`. On a front proxy VM it acknowledges each new
`guestinfo.portable.backends` in `...backends.applied`, as the proxy's relay does once
kamal-proxy has switched.
"""
from __future__ import annotations

import base64
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl


@dataclass(frozen=True)
class Lab:
    host: str
    port: int
    user: str
    password: str
    datastore: str = "LocalDS_0"


@contextmanager
def connect(lab: Lab) -> Iterator[Any]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    si = SmartConnect(host=lab.host, port=lab.port, user=lab.user, pwd=lab.password, sslContext=context)
    try:
        yield si.RetrieveContent()
    finally:
        Disconnect(si)


def props(content: Any, obj: Any, *paths: str) -> dict[str, Any]:
    """Property paths of one object, by path (vcsim's `runtime` cannot be read whole by pyVmomi)."""
    pc = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=obj)], propSet=[pc.PropertySpec(type=type(obj), pathSet=list(paths))])
    result = content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
    return {p.name: p.val for o in (result.objects if result else []) for p in o.propSet or []}


@dataclass
class VmView:
    name: str
    power_state: str
    cpus: int
    memory_mb: int
    ip: str | None
    marks: dict[str, str]
    extra_config: dict[str, str]
    disks: dict[str, int]  # datastore path -> capacity KiB
    nics: list[str]  # port group name, or `dvpg:<key>` for a distributed port group

    def decoded(self, key: str) -> str:
        value = self.extra_config[key]
        assert self.extra_config.get(f"{key}.encoding") == "base64", f"{key} is not marked base64"
        return base64.b64decode(value).decode()


def app_vms(content: Any, app: str, kind: str | None = "instance-group") -> list[VmView]:
    """The VMs whose custom attribute portable.app is `app`: service VMs by default,
    front proxies with kind="load-balancer", all with kind=None."""
    fields = {f.key: f.name for f in content.customFieldsManager.field or []}
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        out = []
        for vm in view.view:
            marks = {fields.get(c.key, str(c.key)): str(c.value) for c in vm.customValue or []}
            if marks.get("portable.app") != app:
                continue
            if kind is not None and marks.get("portable.kind", "instance-group") != kind:
                continue
            config = vm.config
            out.append(
                VmView(
                    name=vm.name,
                    power_state=str(props(content, vm, "runtime.powerState").get("runtime.powerState")),
                    cpus=config.hardware.numCPU,
                    memory_mb=config.hardware.memoryMB,
                    ip=vm.guest.ipAddress or None,
                    marks=marks,
                    extra_config={o.key: str(o.value) for o in config.extraConfig or []},
                    disks={
                        d.backing.fileName: int(d.capacityInKB)
                        for d in config.hardware.device
                        if isinstance(d, vim.vm.device.VirtualDisk)
                    },
                    nics=[_nic(d) for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)],
                )
            )
        return sorted(out, key=lambda v: v.name)
    finally:
        view.Destroy()


def _nic(card: Any) -> str:
    backing = card.backing
    if isinstance(backing, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
        return f"dvpg:{backing.port.portgroupKey}"
    return str(getattr(backing, "deviceName", ""))


def network_key(content: Any, name: str) -> str:
    dc = content.rootFolder.childEntity[0]
    return str(next(n for n in dc.network if n.name == name).key)


def task_field(content: Any, task: Any, path: str) -> Any:
    """One property of a task's info, read by path through the property collector.

    Reading `task.info` whole fails in pyVmomi whenever vcsim names a non-ManagedEntity (the
    datastore browser of a search) as the task's `entity`, which it does once the task runs;
    the product's `Session.wait_for_task` reads by path for the same reason.
    """
    pc = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=task)], propSet=[pc.PropertySpec(type=vim.Task, pathSet=[path])])
    result = content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
    for obj in result.objects if result is not None else []:
        for prop in obj.propSet or []:
            if prop.name == path:
                return prop.val
    return None


def datastore_files(content: Any, datastore: str, folder: str) -> list[str]:
    """Files under `[datastore] folder` (recursively); [] when the folder does not exist."""
    dc = content.rootFolder.childEntity[0]
    ds = next(d for d in dc.datastore if d.name == datastore)
    task = ds.browser.SearchDatastoreSubFolders_Task(datastorePath=f"[{datastore}] {folder}", searchSpec=vim.host.DatastoreBrowser.SearchSpec(matchPattern=["*"]))
    while (state := task_field(content, task, "info.state")) in ("queued", "running"):
        threading.Event().wait(0.1)
    if state == "error":
        error = task_field(content, task, "info.error")
        fault = getattr(error, "fault", error)
        if isinstance(fault, vim.fault.FileNotFound):
            return []
        raise fault
    results = task_field(content, task, "info.result") or []
    return sorted(f"{r.folderPath}{'' if r.folderPath.endswith('/') else '/'}{f.path}" for r in results for f in r.file or [])


@dataclass
class GuestIpReporter:
    """Sets a guest IP on every powered-on VM of `app` that has none, like VMware Tools would."""

    lab: Lab
    app: str
    prefix: str = "10.77.0."
    interval: float = 0.3
    report_status: bool = True  # False: a template without the relay (open-vm-tools)
    failing_images: frozenset[str] = frozenset()
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    assigned: dict[str, str] = field(default_factory=dict)  # VM id -> address
    reported: dict[str, str] = field(default_factory=dict)  # VM id -> status
    switches: list[tuple[str, str]] = field(default_factory=list)  # (proxy VM, upstreams) acknowledged

    def __enter__(self) -> "GuestIpReporter":
        self._thread = threading.Thread(target=self._run, name="guest-ip-reporter", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        with connect(self.lab) as content:
            while not self._stop.is_set():
                try:
                    self._tick(content)
                except Exception:  # noqa: BLE001 - VMs come and go under us; try again
                    pass
                self._stop.wait(self.interval)

    def _tick(self, content: Any) -> None:
        fields = {f.key: f.name for f in content.customFieldsManager.field or []}
        if "portable.app" not in fields.values():
            return
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        try:
            for vm in view.view:
                marks = {fields.get(c.key): str(c.value) for c in vm.customValue or []}
                if marks.get("portable.app") != self.app:
                    continue
                if props(content, vm, "runtime.powerState").get("runtime.powerState") != "poweredOn":
                    continue
                options = []
                vm_id = vm._moId  # names repeat when a failed revision is retried; VMs do not
                if not vm.guest.ipAddress and vm_id not in self.assigned:
                    self.assigned[vm_id] = f"{self.prefix}{len(self.assigned) + 10}"
                    options.append(vim.option.OptionValue(key="SET.guest.ipAddress", value=self.assigned[vm_id]))
                if self.report_status and vm_id not in self.reported:
                    self.reported[vm_id] = self._outcome(vm, marks)
                    options.append(vim.option.OptionValue(key="guestinfo.portable.status", value=self.reported[vm_id]))
                if self.report_status and marks.get("portable.kind") == "load-balancer":
                    extra = {o.key: str(o.value) for o in vm.config.extraConfig or []}
                    want = extra.get("guestinfo.portable.backends")
                    if want and extra.get("guestinfo.portable.backends.applied") != want:
                        options.append(vim.option.OptionValue(key="guestinfo.portable.backends.applied", value=want))
                        self.switches.append((vm.name, want))
                if options:
                    vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=options))
        finally:
            view.Destroy()

    def _outcome(self, vm: Any, marks: dict[str | None, str]) -> str:
        """What the bootstrap would leave in /var/lib/portable/status for this VM."""
        extra = {o.key: str(o.value) for o in vm.config.extraConfig or []}
        user_data = base64.b64decode(extra.get("guestinfo.userdata", "")).decode(errors="replace")
        for image in self.failing_images:
            if f"pulling {image}" in user_data:
                return f"failed: could not pull {image}"
        service = marks.get("portable.service")
        if marks.get("portable.kind") == "load-balancer":
            service = f"{service}-lb"  # the proxy container's group name in the bootstrap
        return f"ready service={service} revision={marks.get('portable.revision')}"
