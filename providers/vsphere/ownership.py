"""Ownership marks: vCenter custom attributes on every VM portable creates.

`portable.app`, `portable.service`, `portable.revision`, `portable.digest` (the spec digest
the VM was created or last scaled under), `portable.replica` and `portable.kind` (front
proxies) let `observe` find exactly the app's VMs, and nothing else, with one
property-collector query.

The custom attributes can only be written once the clone's task has finished, and that task
goes on in vCenter when portable is cut (Ctrl-C, a crash) while it waits. So the same marks
also travel in the clone's own ConfigSpec, as one extraConfig option (`MARKS_OPTION`, JSON
with the VM's name): the VM carries them from the moment it exists, and a VM whose custom
attributes were never written is still found by destroy, observe and gc. The option is read
by key (`config.extraConfig["portable.marks"]`), never the whole extraConfig of every VM; it
is not a `guestinfo.` key, so the guest cannot read it, and it holds names, revisions and
digests, never secrets. The custom attributes win where both exist (the digest is re-stamped).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyVmomi import vim, vmodl

from portable.providers.vsphere.connection import Session

APP = "portable.app"
SERVICE = "portable.service"
REVISION = "portable.revision"
DIGEST = "portable.digest"
REPLICA = "portable.replica"
KIND = "portable.kind"  # `load-balancer` on front proxy VMs; absent (instance-group) on service VMs
FIELDS = (APP, SERVICE, REVISION, DIGEST, REPLICA, KIND)
MARKS_OPTION = "portable.marks"  # extraConfig key of the clone-time marks
MARKS_PATH = f'config.extraConfig["{MARKS_OPTION}"]'  # read by key: one small property per VM

VM_PROPERTIES = [
    "name",
    "customValue",
    "runtime.powerState",
    "guest.ipAddress",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "config.template",
    MARKS_PATH,  # the clone-time marks, for a VM its custom attributes never reached
]


def clone_marks(vm_name: str, marks: Mapping[str, str]) -> str:
    """The MARKS_OPTION value a VM named `vm_name` is cloned with (compact JSON)."""
    return json.dumps({"vm": vm_name, **{name: marks[name] for name in FIELDS if name in marks}}, sort_keys=True, separators=(",", ":"))


def parse_clone_marks(option: Any, vm_name: str) -> dict[str, str]:
    """The marks in a MARKS_OPTION read back (`option`: the OptionValue or None); {} unless
    they were written for this very VM name (a copy a user cloned from it by hand is not the app's)."""
    try:
        found = json.loads(str(getattr(option, "value", "") or ""))
    except ValueError:
        return {}
    if not isinstance(found, dict) or found.get("vm") != vm_name:
        return {}
    return {name: str(found[name]) for name in FIELDS if isinstance(found.get(name), str) and found[name]}


def vm_marks(props: Mapping[str, Any], by_key: Mapping[int, str]) -> dict[str, str]:
    """A VM's marks from its VM_PROPERTIES: the clone-time option's, overridden by the
    custom attributes (the digest is re-stamped when a group is scaled under a new spec)."""
    marks = parse_clone_marks(props.get(MARKS_PATH), str(props.get("name", "")))
    marks.update({by_key[c.key]: str(c.value) for c in props.get("customValue") or [] if c.key in by_key})
    return marks


@dataclass
class OwnedVm:
    """One VM carrying portable's marks, with the properties observe and status need."""

    vm: Any  # vim.VirtualMachine
    name: str
    marks: dict[str, str]
    power_state: str
    ip_address: str | None
    cpus: int
    memory_mb: int
    devices: list[Any] = field(default_factory=list)
    stamped: bool = True  # False: only the clone-time option marks it, a run was cut before stamping it


    @property
    def kind(self) -> str:
        return self.marks.get(KIND, "instance-group")

    @property
    def service(self) -> str:
        return self.marks.get(SERVICE, "")

    @property
    def revision(self) -> str:
        return self.marks.get(REVISION, "")

    @property
    def replica(self) -> int:
        try:
            return int(self.marks.get(REPLICA, "0"))
        except ValueError:
            return 0


class Marks:
    """Defines the custom attributes once per session and reads/writes them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._keys: dict[str, int] | None = None
        self._lock = threading.Lock()

    def keys(self) -> dict[str, int]:
        """name -> field key, defining the fields that do not exist yet (for VMs)."""
        with self._lock:
            if self._keys is None:
                manager = self.session.content.customFieldsManager
                existing = self.session.call("reading custom attributes", lambda: list(manager.field or []))
                keys = {f.name: f.key for f in existing if f.name in FIELDS}
                for name in FIELDS:
                    if name not in keys:
                        keys[name] = self._define(manager, name)
                self._keys = keys
            return self._keys

    def _define(self, manager: Any, name: str) -> int:
        try:
            definition = self.session.call(
                f"defining custom attribute {name}",
                lambda: manager.AddCustomFieldDef(name=name, moType=vim.VirtualMachine),
            )
            return int(definition.key)
        except Exception:
            # another thread or process defined it first: read it back
            for f in manager.field or []:
                if f.name == name:
                    return int(f.key)
            raise

    def stamp(self, vm: Any, marks: Mapping[str, str]) -> None:
        """Writes the marks on `vm` (CustomFieldsManager.SetField, one call per field)."""
        keys = self.keys()
        manager = self.session.content.customFieldsManager
        for name, value in marks.items():
            self.session.call(
                f"marking VM {vm.name} with {name}",
                lambda n=name, v=value: manager.SetField(entity=vm, key=keys[n], value=v),
            )

    def owned_vms(self, app_name: str, kind: str | None = "instance-group") -> list[OwnedVm]:
        """Every VM (not template) of `kind` (None: any) whose `portable.app` mark is `app_name`
        (a custom attribute, or the clone-time option of a VM a cut run never stamped)."""
        keys = self.keys()
        by_key = {v: k for k, v in keys.items()}
        content = self.session.content
        rows = self.session.call("listing VMs", lambda: _collect_vms(content))
        out: list[OwnedVm] = []
        for vm, props in rows:
            marks = vm_marks(props, by_key)
            if marks.get(APP) != app_name or props.get("config.template"):
                continue
            if kind is not None and marks.get(KIND, "instance-group") != kind:
                continue
            out.append(
                OwnedVm(
                    vm=vm,
                    name=props.get("name", ""),
                    marks=marks,
                    power_state=str(props.get("runtime.powerState", "")),
                    ip_address=props.get("guest.ipAddress") or None,
                    cpus=int(props.get("config.hardware.numCPU") or 0),
                    memory_mb=int(props.get("config.hardware.memoryMB") or 0),
                    devices=list(props.get("config.hardware.device") or []),
                    stamped=any(c.key in by_key for c in props.get("customValue") or []),
                )
            )
        return sorted(out, key=lambda o: o.name)


def _collect_vms(content: Any) -> list[tuple[Any, dict[str, Any]]]:
    """All VMs with VM_PROPERTIES, in one RetrievePropertiesEx round (plus continuations)."""
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[
                vmodl.query.PropertyCollector.ObjectSpec(
                    obj=view,
                    skip=True,
                    selectSet=[
                        vmodl.query.PropertyCollector.TraversalSpec(
                            name="view", path="view", skip=False, type=vim.view.ContainerView
                        )
                    ],
                )
            ],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.VirtualMachine, pathSet=VM_PROPERTIES)],
        )
        collector = content.propertyCollector
        result = collector.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
        rows: list[tuple[Any, dict[str, Any]]] = []
        while result is not None:
            for obj in result.objects:
                rows.append((obj.obj, {p.name: p.val for p in obj.propSet or []}))
            result = collector.ContinueRetrievePropertiesEx(result.token) if result.token else None
        return rows
    finally:
        view.Destroy()
