"""`VsphereProvider`: the app's services as VMs on vCenter, through the shared VM runtime.

translate (translate.py) -> one `instance-group` per service and one stateful `volume` per
data disk (providers/vm), plus a `load-balancer` (front proxy VM, proxy.py) per public http service;
apply -> blue/green rollouts of VMs cloned from the template (backend.py) and VMDK files
for volumes (disks.py); observe -> the VMs marked with the app's custom attributes and the
disk files in the app's datastore folder.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from portable.errors import Problem, TargetError, TransientError
from portable.providers.vsphere.errors import NETWORK_ERRORS
from portable.manifest.app import App
from portable.plan.plan import Action
from portable.plan.resources import InstanceStatus, LogLine, Observed, Resource, ServiceStatus
from portable.providers.base import ApplyContext, BaseProvider, Capability
from portable.providers.vm import GROUP_KIND, VOLUME_KIND, roll_out, scale, tear_down
from portable.providers.vm.drift import live_of, managed_of
from portable.providers.vm.preflight import check_registry_login
from portable.providers.vsphere import disks as vdisks
from portable.providers.vsphere import machines
from portable.providers.vsphere.backend import VsphereGroupBackend
from portable.providers.vsphere.connection import Session
from portable.providers.vsphere.drift import FIELD as DRIFT_FIELD, HINTS as DRIFT_HINTS, RUNNING
from portable.providers.vsphere.exec import VsphereExec
from portable.providers.vsphere.inventory import Placement, resolve_placement
from portable.providers.vsphere.ownership import DIGEST, Marks, OwnedVm
from portable.providers.vsphere.owned import VsphereOwned
from portable.providers.vsphere.proxy import LB_KIND, current_backends, set_backends
from portable.providers.vsphere.quiesce import VsphereQuiesce
from portable.providers.vsphere.readiness import guest_status
from portable.providers.vsphere.secrets import legacy_path_warnings, metadata_secret_refusals
from portable.providers.vsphere.render import render_files
from portable.providers.vsphere.restore import VsphereRestore, pending_restore
from portable.providers.vsphere.settings import VsphereSettings
from portable.providers.vsphere.specs import disk_uuid_hex, vmdk_uuid
from portable.providers.vsphere.translate import translate

DISK_TASK_TIMEOUT = 300.0


class VsphereProvider(VsphereOwned, VsphereExec, VsphereRestore, VsphereQuiesce, BaseProvider):
    """Deploys an app to VMware vSphere (vCenter or ESXi) as VMs cloned from a template."""

    name: ClassVar[str] = "vsphere"
    drift_hints: ClassVar[Mapping[str, str]] = DRIFT_HINTS
    base_capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.VOLUMES, Capability.PUBLIC_HTTP, Capability.PUBLIC_TCP, Capability.LOAD_BALANCER,
         Capability.EXPORT_VOLUMES, Capability.RESTORE_AT_BOOT, Capability.RESTORE_RUNNING,
         Capability.RESTORE_FED,  # a new VM waits while portable uploads the archives through VMware Tools (restore.py)
         Capability.QUIESCE,  # the writers' containers stopped in their guests through VMware Tools (quiesce.py)
         Capability.DATA_CHANNEL,  # guest operations with the guest account, checked while planning (data.py)
         Capability.LIST_OWNED,  # portable gc (owned.py)
         Capability.EXEC}  # portable exec: docker exec in the guest through VMware Tools (exec.py)
    )
    refusals: ClassVar[dict[Capability, tuple[str, str | None]]] = {
        Capability.LOGS: ("cannot read container logs through vCenter",
                          "log in to the VM and run `docker logs vm-<app>-<service>` (or `journalctl -u cloud-final`)"),
    }

    def __init__(self, target_name: str, settings: VsphereSettings | dict[str, Any]) -> None:
        if not isinstance(settings, VsphereSettings):
            settings = VsphereSettings.model_validate(settings)
        super().__init__(target_name, settings)
        self.settings: VsphereSettings = settings
        self.session = Session(settings)
        self.marks = Marks(self.session)
        self._placement: Placement | None = None
        self._lock = threading.Lock()
        self._folder_lock = threading.Lock()

    # -- connection and inventory

    def placement(self) -> Placement:
        with self._lock:
            if self._placement is None:
                content = self.session.content
                self._placement = self.session.call("looking up the target's inventory", lambda: resolve_placement(content, self.settings), reread=True)
            return self._placement

    def datastore_name(self) -> str:
        """Where data disks live: `datastore`, else the template's first datastore."""
        p = self.placement()
        if p.datastore is not None:
            return str(p.datastore.name)
        stores = self.session.call("reading the template's datastore", lambda: list(p.template.datastore))
        if not stores:
            raise TargetError(f"template `{p.template.name}` has no datastore: set `datastore` in the target")
        return str(stores[0].name)

    def _datastore(self) -> Any:
        p = self.placement()
        if p.datastore is not None:
            return p.datastore
        name = self.datastore_name()
        return next(d for d in p.template.datastore if d.name == name)

    def check(self) -> str:
        about = self.session.call("reading vCenter's version", lambda: self.session.content.about)
        p = self.placement()
        return (
            f"{about.fullName} at {self.session.where}: template `{p.template.name}` in datacenter "
            f"`{p.datacenter.name}`, pool `{p.pool.name}`, folder `{p.folder.name}`"
        )

    # -- translate (pure)

    def translate(self, app: App) -> list[Resource]:
        return translate(app, self.settings)

    def plan_warnings(self, app: App) -> list[str]:
        """Secrets that would ride in guestinfo, said with the variables that move them (secrets.py)."""
        return legacy_path_warnings(app, self.settings)

    def unmet_settings(self, app: App) -> list[Problem]:
        """Secrets with no guest account are refused unless the target accepts guestinfo (secrets.py)."""
        return metadata_secret_refusals(app, self.settings)

    def preflight(self, app: App) -> None:
        """Read-only, before the first disk or clone: the registry password the VMs log in
        with is readable, and the inventory (template, datastore, network, folder) is found."""
        check_registry_login(app, self.settings.registry)
        self.placement()

    def managed_fields(self, resource: Resource) -> Mapping[str, Any]:
        """Every replica's VM powered on (drift.py)."""
        return managed_of(resource, DRIFT_FIELD, RUNNING)

    def needs_replace(self, observed: Observed, desired: Resource) -> bool:
        return False  # groups roll out blue/green inside `update`; volumes are never replaced

    # -- observe

    def observe(self, app: App) -> list[Observed]:
        desired = {r.key: r for r in self.translate(app)}
        every = self.marks.owned_vms(app.name, kind=None)  # one sweep for service VMs and proxies
        owned = [vm for vm in every if vm.kind != LB_KIND]
        out: list[Observed] = []
        by_service: dict[str, list[OwnedVm]] = {}
        for vm in owned:
            by_service.setdefault(vm.service, []).append(vm)
        for service, vms in sorted(by_service.items()):
            digests = {vm.marks.get(DIGEST) for vm in vms}
            want = desired.get(f"{GROUP_KIND}/{service}")
            whole = (
                len(digests) == 1
                and all(vm.power_state == "poweredOn" for vm in vms)
                and (want is None or len(vms) == int(want.spec["replicas"]))
            )  # a stopped or missing VM makes the group differ, so deploy repairs it
            if whole and app.restores and any(pending_restore(self.session, vm.vm) for vm in vms):
                whole = False  # a migration stopped before its archives reached a VM: deploy delivers them
            out.append(
                Observed(
                    GROUP_KIND,
                    service,
                    digests.pop() if whole else None,
                    service=service,
                    info={"vms": [vm.name for vm in vms], "revisions": sorted({vm.revision for vm in vms})},
                    live=live_of(DRIFT_FIELD, [(vm.replica, vm.power_state) for vm in vms]),
                )
            )
        for want in desired.values():
            # a group scaled to zero has no VM to carry its marks; zero VMs is exactly its state
            if want.kind == GROUP_KIND and int(want.spec["replicas"]) == 0 and want.name not in by_service:
                out.append(Observed(GROUP_KIND, want.name, want.digest, service=want.name, info={"vms": []}))
        for lb_vm in (vm for vm in every if vm.kind == LB_KIND):
            digest = lb_vm.marks.get(DIGEST) if lb_vm.power_state == "poweredOn" else None
            want = desired.get(f"{LB_KIND}/{lb_vm.service}")
            info: dict[str, Any] = {"vm": lb_vm.name}
            if digest is not None and want is not None and digest == want.digest:
                # the proxy VM is current; its upstreams must be the service's serving VMs
                expected = sorted(upstreams(by_service.get(lb_vm.service, []), int(want.spec["target_port"])))
                if sorted(current_backends(self.session, lb_vm.vm)) != expected:
                    digest, info["repair"] = None, "upstreams"
            out.append(Observed(LB_KIND, lb_vm.service, digest, service=lb_vm.service, info=info))
        attached = {path: kb for vm in owned for path, kb in _disk_capacities(vm).items()}
        for disk in vdisks.list_disks(self.session, self._datastore(), app.name):
            key = f"{VOLUME_KIND}/{disk.name}"
            want = desired.get(key)
            digest = None
            if want is not None and want.service == disk.service:
                size_kb = attached.get(disk.path)
                same_size = size_kb is None or size_kb == int(want.spec["size_gib"]) * 1024 * 1024
                digest = want.digest if same_size else None
            out.append(Observed(VOLUME_KIND, disk.name, digest, stateful=True, service=disk.service, info={"path": disk.path}))
        return out

    # -- apply

    def apply(self, action: Action, ctx: ApplyContext) -> None:
        try:
            if action.kind == VOLUME_KIND:
                self._apply_volume(action, ctx)
            elif action.kind == GROUP_KIND:
                self._apply_group(action, ctx)
            elif action.kind == LB_KIND:
                self._apply_proxy(action, ctx)
            else:
                raise TargetError(f"the vsphere target does not manage `{action.kind}` resources (found {action.key})")
        except NETWORK_ERRORS as exc:  # a lazy pyVmomi property read outside Session.call lost its connection
            raise TransientError(f"the connection to vCenter failed while applying {action.key}: {exc}") from exc

    def _apply_volume(self, action: Action, ctx: ApplyContext) -> None:
        placement = self.placement()
        service = action.service or ""
        path = vdisks.disk_path(self.datastore_name(), ctx.app.name, service, action.name)
        if action.op == "delete":
            found = action.observed.info.get("path") if action.observed is not None else None
            ctx.progress(f"deleting data disk {found or path}")
            vdisks.delete_disk(self.session, placement.datacenter, str(found or path), DISK_TASK_TIMEOUT)
            with self._folder_lock:  # parallel volume deletes: one of them removes the folder
                vdisks.remove_empty_folder(self.session, self._datastore(), placement.datacenter, ctx.app.name)
            return
        assert action.desired is not None
        size = int(action.desired.spec["size_gib"])
        if vdisks.create_disk(self.session, placement.datacenter, path, size, DISK_TASK_TIMEOUT):
            ctx.progress(f"created data disk {path} ({size} GiB)")
            uuid = vmdk_uuid(disk_uuid_hex(ctx.app.name, service, action.name))
            content = self.session.content
            self.session.call(
                f"setting the id of data disk {path}",
                lambda: content.virtualDiskManager.SetVirtualDiskUuid(name=path, datacenter=placement.datacenter, uuid=uuid),
            )
        elif action.op != "create":
            self._grow_volume(ctx, path, size, action)

    def _grow_volume(self, ctx: ApplyContext, path: str, size_gib: int, action: Action) -> None:
        """Grows a data disk (never shrinks: that would cut the filesystem on it)."""
        placement = self.placement()
        holders = [vm for vm in self.marks.owned_vms(ctx.app.name) if path in _disk_capacities(vm)]
        current_kb = max((_disk_capacities(vm)[path] for vm in holders), default=None)
        if current_kb is not None and current_kb > size_gib * 1024 * 1024:
            raise TargetError(
                f"volume `{action.name}` is {current_kb // (1024 * 1024)} GiB and cannot shrink to {size_gib} GiB: "
                "keep its size, or copy the data to a new volume"
            )
        ctx.progress(f"growing data disk {path} to {size_gib} GiB")
        if not any(machines.grow_attached_disk(self.session, vm.vm, path, size_gib, DISK_TASK_TIMEOUT) for vm in holders):
            vdisks.grow_disk(self.session, placement.datacenter, path, size_gib, DISK_TASK_TIMEOUT)

    def _apply_proxy(self, action: Action, ctx: ApplyContext) -> None:
        """Front proxy VM: (re)created when its spec changes, keeping the current upstreams."""
        backend = self._backend(ctx.app, ctx)
        if action.observed is not None and action.observed.info.get("repair") == "upstreams" and action.desired is not None:
            lb = action.desired
            serving = upstreams([vm for vm in self.marks.owned_vms(ctx.app.name) if vm.service == lb.name], int(lb.spec["target_port"]))
            vm = next((o for o in self.marks.owned_vms(ctx.app.name, kind=LB_KIND) if o.service == lb.name), None)
            if vm is not None:
                ctx.progress(f"{lb.name}: front proxy {vm.name} -> {', '.join(serving) or 'no upstream'}")
                set_backends(self.session, vm.vm, vm.name, serving, wait=self.settings.readiness == "guest", timeout=self.settings.boot_timeout)
                return
        for old in self.marks.owned_vms(ctx.app.name, kind=LB_KIND):
            if old.service == action.name:
                ctx.progress(f"removing front proxy {old.name}")
                machines.destroy_vm(self.session, old.vm, keep_prefix=backend.disk_prefix, timeout=DISK_TASK_TIMEOUT)
        if action.op == "delete" or action.desired is None:
            return
        lb = action.desired
        serving = upstreams([vm for vm in self.marks.owned_vms(ctx.app.name) if vm.service == lb.name], int(lb.spec["target_port"]))
        backend.start_proxy(lb, serving, ctx.timeout)

    def _backend(self, app: App, ctx: ApplyContext) -> VsphereGroupBackend:
        def first_start(group_spec: Mapping[str, Any], vm: Any, vm_name: str) -> None:
            self.deliver_first_start(app, group_spec, vm, vm_name, ctx.progress)

        return VsphereGroupBackend(self.session, self.marks, self.placement(), self.settings, app, self.datastore_name(), ctx.progress,
                                   first_start=first_start if app.restores else None)

    @staticmethod
    def _without_unfinished_clones(backend: VsphereGroupBackend, group: Resource, owned: list[OwnedVm], ctx: ApplyContext) -> list[OwnedVm]:
        """Removes the group's VMs that only their clone-time option marks: a run was cut between
        the clone and its stamping, so nothing after the clone (power-on, first boot) is known
        to have happened; they are cloned again rather than adopted half-made."""
        unfinished = [o for o in owned if o.service == group.name and not o.stamped]
        if not unfinished:
            return owned
        ctx.progress(f"{group.name}: removing {', '.join(o.name for o in unfinished)}, cloned by a run that was cut before it finished them")
        backend.terminate(group, backend.instances(group, unfinished))
        return [o for o in owned if o not in unfinished]

    def _apply_group(self, action: Action, ctx: ApplyContext) -> None:
        backend = self._backend(ctx.app, ctx)
        owned = self.marks.owned_vms(ctx.app.name)
        if action.op == "delete":
            backend.draining = False
            gone = action.desired or Resource(GROUP_KIND, action.name, {"volumes": [], "revision": "", "replicas": 0}, service=action.name)
            tear_down(backend, gone, backend.instances(gone, owned), progress=ctx.progress)
            return
        group = action.desired
        if group is None:
            raise TargetError(f"{action.op} of {action.key} needs its desired spec")
        owned = self._without_unfinished_clones(backend, group, owned, ctx)
        current = backend.instances(group, owned)
        revision = group.spec["revision"]
        same = [i for i in current if i.revision == revision]
        if current and len(same) == len(current):
            stopped = [o for o in owned if o.service == group.name and o.power_state != "poweredOn"]
            if stopped:
                ctx.progress(f"{group.name}: powering on {', '.join(o.name for o in stopped)}")
                backend.power_on(group, [o.name for o in stopped], timeout=ctx.timeout)
            if ctx.app.restores:  # VMs of a migration stopped midway still wait for their archives
                for o in owned:
                    if o.service == group.name and o.power_state == "poweredOn" and o.name not in {x.name for x in stopped} and pending_restore(self.session, o.vm):
                        self.deliver_first_start(ctx.app, group.spec, o.vm, o.name, ctx.progress)
            scale(backend, group, current, timeout=ctx.timeout, progress=ctx.progress)
            return
        # blue/green: instances of the new revision replace every other one
        stale = [i for i in current if i.revision != revision]
        if same:
            tear_down(backend, group, same, progress=ctx.progress)  # leftovers of a failed rollout
        roll_out(backend, group, stale, timeout=ctx.timeout, progress=ctx.progress)

    # -- status, logs, render

    def status(self, app: App) -> list[ServiceStatus]:
        owned = self.marks.owned_vms(app.name)
        proxies = [vm for vm in self.marks.owned_vms(app.name, kind=LB_KIND) if vm.power_state == "poweredOn"]
        out = []
        for name, svc in app.services.items():
            vms = [vm for vm in owned if vm.service == name]
            running = [vm for vm in vms if vm.power_state == "poweredOn"]
            healthy = {vm.name for vm in running if self._serving(vm)}
            instances = tuple(
                InstanceStatus(
                    name=vm.name,
                    state="running" if vm.power_state == "poweredOn" else vm.power_state.removeprefix("powered").lower(),
                    healthy=(vm.name in healthy) if svc.health else None,
                    address=vm.ip_address,
                    revision=vm.revision,
                )
                for vm in vms
            )
            fronted = [p for p in svc.ports if p.expose == "public" and p.protocol == "http"]
            endpoints = tuple(
                f"http://{lb.ip_address}:{p.public_port}" for lb in proxies if lb.service == name and lb.ip_address for p in fronted
            ) + tuple(
                f"{p.protocol}://{vm.ip_address}:{p.public_port}"
                for vm in running
                if vm.ip_address
                for p in svc.ports
                if p.expose == "public" and p.protocol != "http"
            )
            out.append(
                ServiceStatus(
                    service=name,
                    desired=svc.replicas,
                    running=len(running),
                    healthy=len(healthy),
                    endpoints=endpoints,
                    instances=instances,
                )
            )
        return out

    def _serving(self, vm: OwnedVm) -> bool:
        """Has an address and (readiness: guest) its bootstrap reported the service ready."""
        if vm.ip_address is None:
            return False
        if self.settings.readiness == "ip":
            return True
        return (guest_status(self.session, vm.vm) or "").startswith("ready")

    def logs(self, app: App, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]:
        raise TargetError(
            "the vsphere target cannot read container logs through vCenter",
            hint="log in to the VM and run `docker logs vm-<app>-<service>` (or `journalctl -u cloud-final`)",
        )

    def render(self, app: App, resources: list[Resource], outdir: Path) -> list[Path]:
        return render_files(app, resources, outdir, self.settings)


def upstreams(vms: list[OwnedVm], port: int) -> list[str]:
    """`ip:port` of the VMs that are powered on with an address."""
    return [f"{vm.ip_address}:{port}" for vm in vms if vm.ip_address and vm.power_state == "poweredOn"]


def _disk_capacities(vm: OwnedVm) -> dict[str, int]:
    return machines.attached_files(vm.devices)
