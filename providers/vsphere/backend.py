"""The vSphere `InstanceGroupBackend`: what the shared blue/green rollout drives.

Creating an instance = cloning the template with the replica's data disks and guestinfo,
marking it as the app's, and powering it on. Healthy = a guest IP reported by VMware Tools
and (readiness: guest) the bootstrap's `ready` relayed through guestinfo (readiness.py).
Registering puts instances behind the service's front proxy VM (proxy.py), if it has one.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from portable.engine import cancel, outage  # outage: the run's retry-budget clock, shared with the pool
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.vm import InstanceRef, instance_user_data, peer_services
from portable.providers.vsphere import machines, proxy
from portable.providers.vsphere.connection import Session
from portable.providers.vsphere.data import guest_auth
from portable.providers.vsphere.disks import app_folder
from portable.providers.vsphere.inventory import Placement
from portable.providers.vsphere.ownership import DIGEST, Marks, OwnedVm
from portable.providers.vsphere.proxy import LB_KIND
from portable.providers.vsphere.readiness import wait_service_ready
from portable.providers.vsphere.restore import RESTORE_KEY, restores_for
from portable.providers.vsphere.secrets import push_secrets, secret_source
from portable.providers.vsphere.settings import VsphereSettings
from portable.providers.vsphere.specs import clone_request, disk_devices, peer_hosts

TASK_TIMEOUT = 600.0


class VsphereGroupBackend:
    """Drives one app's instance groups on one vCenter placement."""

    def __init__(
        self,
        session: Session,
        marks: Marks,
        placement: Placement,
        settings: VsphereSettings,
        app: App,
        datastore_name: str,
        progress: Callable[[str], None],
        first_start: Callable[[Mapping[str, Any], Any, str], None] | None = None,
    ) -> None:
        self.session = session
        # fills a new VM's volumes from a migration's archives once its Tools answer (restore.py)
        self.first_start = first_start
        self.marks = marks
        self.placement = placement
        self.settings = settings
        self.app = app
        self.datastore_name = datastore_name
        self.progress = progress
        self._vms: dict[str, Any] = {}  # instance id (VM name) -> vim.VirtualMachine
        self._ips: dict[str, str] = {}  # instance id -> guest address, once known
        self._upstream_lock = threading.Lock()

    # -- instances as the rollout sees them

    def instances(self, group: Resource, owned: Sequence[OwnedVm]) -> list[InstanceRef]:
        refs = []
        for o in owned:
            if o.service != group.name:
                continue
            self._vms[o.name] = o.vm
            refs.append(InstanceRef(id=o.name, replica=o.replica, revision=o.revision, address=o.ip_address))
        return refs

    def _peer_addresses(self) -> dict[str, str]:
        """service -> IP of its lowest replica, from the app's VMs as they are now."""
        out: dict[str, str] = {}
        for o in sorted(self.marks.owned_vms(self.app.name), key=lambda o: o.replica):
            if o.ip_address and o.power_state == "poweredOn":
                out.setdefault(o.service, o.ip_address)
        return out

    # -- InstanceGroupBackend

    def create_instances(self, group: Resource, replicas: Sequence[int]) -> list[InstanceRef]:
        hosts = peer_hosts(peer_services(self.app, group.name), self._peer_addresses())
        linked = self.settings.linked_clone and machines.template_snapshot(self.placement.template) is not None
        created: list[InstanceRef] = []
        restoring = self.first_start is not None and bool(restores_for(self.app, group.spec))
        if restoring:
            guest_auth(self.settings)  # no guest account: said before any VM is cloned

        def one(replica: int) -> InstanceRef:
            text = instance_user_data(
                self.app, group, replica=replica, registry=self.settings.registry, hosts=hosts, disk_devices=disk_devices(group.spec, replica),
                secret_source=secret_source(self.settings, group.spec),  # pushed through VMware Tools (secrets.py)
            )
            request = clone_request(group, replica, user_data=text, datastore_name=self.datastore_name)
            if restoring:  # the guest holds its bootstrap until the archives are unpacked
                request = replace(request, extra_config={**request.extra_config, RESTORE_KEY: "pending"})
            self.progress(f"{group.name}: cloning {request.name} ({request.cpus} vCPU, {request.memory_mb} MiB"
                          f"{', linked clone' if linked else ''}{', ' + str(len(request.disks)) + ' data disk(s)' if request.disks else ''})")
            vm = machines.clone_vm(self.session, request, self.placement, linked_clone=linked, timeout=TASK_TIMEOUT)
            self._vms[request.name] = vm
            ref = InstanceRef(id=request.name, replica=replica, revision=group.spec["revision"])
            created.append(ref)
            self.marks.stamp(vm, request.marks)
            machines.power_on(self.session, vm, TASK_TIMEOUT)
            return ref

        try:
            with ThreadPoolExecutor(max_workers=min(4, max(1, len(replicas)))) as pool:
                return list(pool.map(outage.carried(cancel.carried(one)), replicas))
        except BaseException:
            self._remove_quietly(group, created)
            raise

    def wait_healthy(self, group: Resource, instances: Sequence[InstanceRef], timeout: float) -> None:
        """Each VM's guest IP, then (readiness: guest) its service reported ready, within boot_timeout."""
        budget = min(timeout, self.settings.boot_timeout)
        deadline = time.monotonic() + budget

        def one(ref: InstanceRef) -> str:
            vm = self._vm(ref)
            ip = machines.wait_for_ip(self.session, vm, max(1.0, deadline - time.monotonic()), limit=budget)
            self.progress(f"{group.name}: {ref.id} has address {ip}")
            if self.first_start is not None and restores_for(self.app, group.spec):
                self.first_start(group.spec, vm, ref.id)
            push_secrets(self.session, self.settings, self.app, group, vm, ref.id, timeout=max(1.0, deadline - time.monotonic()), progress=self.progress)
            if self.settings.readiness == "guest":
                wait_service_ready(self.session, vm, ref.id, group.spec, max(1.0, deadline - time.monotonic()), limit=budget)
            return ip

        with ThreadPoolExecutor(max_workers=min(4, max(1, len(instances)))) as pool:
            ips = list(pool.map(outage.carried(cancel.carried(one)), instances))
        for ref, ip in zip(instances, ips, strict=True):
            self._ips[ref.id] = ip
            self.progress(f"{group.name}: {ref.id} is up at {ip}")

    def register_with_lb(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        """Adds the instances to the service's front proxy (when it has one) and waits for the switch."""
        self._change_upstreams(group, add=instances, remove=())

    def deregister(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        self._change_upstreams(group, add=(), remove=instances)

    draining = True  # False while a whole service is deleted: nothing is left to keep serving

    def _change_upstreams(self, group: Resource, add: Sequence[InstanceRef], remove: Sequence[InstanceRef]) -> None:
        port = next((p["port"] for p in group.spec.get("ports", []) if p["expose"] == "public" and p["protocol"] == "http"), None)
        proxies = [o for o in self.marks.owned_vms(self.app.name, kind=LB_KIND) if o.service == group.name]
        if port is None or not proxies:
            return
        lb = proxies[0]
        with self._upstream_lock:
            current = set(proxy.current_backends(self.session, lb.vm))
            current |= {f"{self._address(ref)}:{port}" for ref in add}
            current -= {f"{self._address(ref)}:{port}" for ref in remove}
            self.progress(f"{group.name}: front proxy {lb.name} -> {', '.join(sorted(current)) or 'no upstream'}")
            proxy.set_backends(
                self.session, lb.vm, lb.name, sorted(current),
                wait=self.settings.readiness == "guest" and (bool(add) or self.draining), timeout=self.settings.boot_timeout,
            )

    def _address(self, ref: InstanceRef) -> str:
        address = self._ips.get(ref.id) or ref.address
        if not address:
            address = str(self.session.read(self._vm(ref), "guest.ipAddress", f"reading the address of VM `{ref.id}`") or "")
        return address

    def start_proxy(self, lb: Resource, upstreams: Sequence[str], timeout: float) -> None:
        """Clones, marks and starts the front proxy VM of `lb`, and waits until it serves."""
        group_spec = proxy.proxy_group_spec(lb)
        text = instance_user_data(self.app, group_spec, replica=0, registry=self.settings.registry, hosts={},
                                  secret_source=secret_source(self.settings, group_spec))  # no secrets; the registry password is pushed
        request = proxy.proxy_clone_request(lb, text, list(upstreams))
        linked = self.settings.linked_clone and machines.template_snapshot(self.placement.template) is not None
        self.progress(f"{lb.name}: cloning front proxy {request.name} (port {lb.spec['published']})")
        vm = machines.clone_vm(self.session, request, self.placement, linked_clone=linked, timeout=TASK_TIMEOUT)
        try:
            self.marks.stamp(vm, request.marks)
            machines.power_on(self.session, vm, TASK_TIMEOUT)
            budget = min(timeout, self.settings.boot_timeout)
            ip = machines.wait_for_ip(self.session, vm, budget)
            push_secrets(self.session, self.settings, self.app, group_spec, vm, request.name, timeout=budget, progress=self.progress)
            if self.settings.readiness == "guest":
                wait_service_ready(self.session, vm, request.name, group_spec, budget)
        except BaseException:
            machines.destroy_vm(self.session, vm, keep_prefix=self.disk_prefix, timeout=TASK_TIMEOUT)
            raise
        self.progress(f"{lb.name}: front proxy {request.name} serves http://{ip}:{lb.spec['published']}")

    def terminate(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        def one(ref: InstanceRef) -> None:
            machines.destroy_vm(self.session, self._vm(ref), keep_prefix=self.disk_prefix, timeout=TASK_TIMEOUT)

        with ThreadPoolExecutor(max_workers=min(4, max(1, len(instances)))) as pool:
            list(pool.map(outage.carried(cancel.carried(one)), instances))

    def mark_current(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        for ref in instances:
            self.marks.stamp(self._vm(ref), {DIGEST: group.digest})

    def power_on(self, group: Resource, names: Sequence[str], timeout: float) -> None:
        """Starts stopped VMs of the current revision and waits until they are healthy."""
        for name in names:
            machines.power_on(self.session, self._vms[name], TASK_TIMEOUT)
        refs = [InstanceRef(id=name, replica=0, revision=group.spec["revision"]) for name in names]
        self.wait_healthy(group, refs, timeout)

    # -- helpers

    @property
    def disk_prefix(self) -> str:
        """Data disks of this app live under this datastore folder; destroying a VM keeps them."""
        return app_folder(self.datastore_name, self.app.name) + "/"

    def _vm(self, ref: InstanceRef) -> Any:
        vm = self._vms.get(ref.id)
        if vm is None:
            raise KeyError(f"VM {ref.id} is not known to this rollout")
        return vm

    def _remove_quietly(self, group: Resource, refs: Sequence[InstanceRef]) -> None:
        """Deletes VMs a failed create left behind; the original error is what the user sees."""
        for ref in refs:
            try:
                machines.destroy_vm(self.session, self._vm(ref), keep_prefix=self.disk_prefix, timeout=TASK_TIMEOUT)
            except Exception:  # noqa: BLE001 - best effort; the VM is marked and observe will show it
                self.progress(f"{group.name}: could not remove {ref.id}; delete it in vCenter")

