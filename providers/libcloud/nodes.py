"""Libcloud nodes of an instance group: the InstanceGroupBackend of the shared VM runtime.

"Healthy" before the old instances go: the node is `running` (libcloud's wait_until_running)
and, with `readiness: probe`, the service's http health check answers 2xx/3xx on the node's
public address for a public port. There is no load balancer to register with: the rollout
still starts the new instances before terminating the old, but their addresses change.
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from libcloud.compute.base import NodeSize

from portable.engine import cancel, outage
from portable.engine.retry import retry_budget, retry_transient
from portable.errors import HealthCheckError, TargetError, TransientError
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.base import ApplyContext
from portable.providers.libcloud import ec2
from portable.providers.libcloud.account import LibcloudAccount
from portable.providers.libcloud.connect import call
from portable.providers.libcloud.listing import all_nodes
from portable.providers.libcloud.naming import node_name, parse_node_name
from portable.providers.libcloud.secrets import push_to_nodes, pushes_secrets, secret_source
from portable.providers.vm.archive_push import fed_volumes
from portable.providers.vm import (
    InstanceRef,
    disk_name,
    fit_user_data,
    group_disks,
    instance_user_data,
    peer_services,
)

GONE = ("terminated", "unknown")


def app_nodes(driver: Any, owner: str, service: str | None = None) -> list[tuple[Any, Any]]:
    """(node, parsed name) of the owner's (app on this target) live nodes, optionally of one service."""
    out = []
    for node in call(all_nodes, driver, action="list", what="instances"):
        parsed = parse_node_name(node.name, owner)
        if parsed is None or str(node.state) in GONE:
            continue
        if service is None or parsed.service == service:
            out.append((node, parsed))
    return out


def as_ref(node: Any, parsed: Any) -> InstanceRef:
    private = list(node.private_ips or [])
    return InstanceRef(node.id, parsed.replica, parsed.revision, private[0] if private else None, node.extra.get("availability") or node.extra.get("zone"))


class LibcloudGroupBackend:
    """Nodes of one app's instance groups on one libcloud account (the provider routes here)."""

    def __init__(self, account: LibcloudAccount, app: App, ctx: ApplyContext) -> None:
        self.account = account
        self.driver = account.driver(app)
        self.app = app
        self.owner = account.owner(app)
        self.ctx = ctx
        self.timeout = min(ctx.timeout, account.settings.boot_timeout)

    def _nodes(self, refs: Sequence[InstanceRef]) -> list[Any]:
        ids = {r.id for r in refs}
        return [n for n in call(all_nodes, self.driver, action="list", what="instances") if n.id in ids]

    def _size(self, size_id: str) -> Any:
        sizes = call(self.driver.list_sizes, action="list", what="instance sizes")
        for s in sizes:
            if s.id == size_id or s.name == size_id:
                return s
        if not sizes:  # a driver whose machines take any shape (vsphere): the declared catalogue
            for c in self.account.profile.catalogue:
                if c.name == size_id:
                    return NodeSize(c.name, c.name, ram=c.memory_mib, disk=0, bandwidth=0, price=0, driver=self.driver, extra={"cpu": c.cpus})
        raise TargetError(f"the {self.account.settings.driver} driver offers no size {size_id}", hint="set `instance_type` (or `instance_types`) on the target to one it lists")

    def _image(self) -> Any:
        if self.account.profile.find_image is not None:
            return self.account.profile.find_image(self.driver, self.account.settings.image)
        return call(self.driver.get_image, self.account.settings.image, action="find", what=f"image {self.account.settings.image}")

    def _user_data(self, group: Resource, replica: int, peers: dict[str, str]) -> str | bytes:
        devices = {v["index"]: [f"/dev/sd{chr(ord('f') + v['index'])}", f"/dev/xvd{chr(ord('f') + v['index'])}", f"/dev/vd{chr(ord('b') + v['index'])}"] for v in group.spec["volumes"]}
        text = instance_user_data(self.app, group, replica=replica, registry=self.account.settings.registry, hosts=peers, disk_devices=devices,
                                  secret_source=secret_source(self.account.settings))  # pushed over SSH after boot (secrets.py)
        data = fit_user_data(text, limit=self.account.profile.user_data_limit, what=f"the user data of {group.name}")
        return data.decode() if data.startswith(b"#cloud-config") else data

    def _peers(self, group: Resource) -> dict[str, str]:
        out: dict[str, str] = {}
        peers = set(peer_services(self.app, group.name))
        for node, parsed in app_nodes(self.driver, self.owner):
            if parsed.service in peers and node.private_ips and (parsed.service not in out or parsed.replica == 0):
                out[parsed.service] = node.private_ips[0]
        return out

    def _wait_running(self, nodes: Sequence[Any], timeout: float, what: str) -> None:
        """What libcloud's wait_until_running checks (running, with an address), polled here so each
        poll is retried on its own: one dropped answer does not restart (or fail) the whole wait."""
        ids = {n.id for n in nodes}
        deadline = time.monotonic() + timeout
        address = self.account.profile.address
        live: list[Any] = []
        while True:
            try:
                live = [n for n in call(all_nodes, self.driver, action="list", what="instances", attempts=3) if n.id in ids]
            except TransientError as exc:  # a poll that failed saw nothing new: the deadline bounds the wait
                if time.monotonic() > deadline:
                    raise TargetError(f"gave up waiting for {what} to run after {timeout:.0f}s: {exc.message}") from exc
                if outage.unanswered_seconds() + 2 > retry_budget():
                    raise  # the cloud has not answered for the whole retry budget: fail as any call would
                self.ctx.pause(2)
                continue
            if len(live) == len(ids) and all(str(n.state) == "running" and getattr(n, address, None) for n in live):
                return
            if time.monotonic() > deadline:
                states = ", ".join(f"{n.id} {n.state}" for n in live) or "none found"
                raise TargetError(f"gave up waiting for {what} to run with an address after {timeout:.0f}s ({states})")
            self.ctx.pause(2)

    def _create_node(self, name: str, **kwargs: Any) -> Any:
        """create_node, retried only after looking for the node a lost answer may hide: node names
        are unique (owner, service, replica, revision), so a live node of that name is the one
        the earlier try started, and is kept instead of starting a second."""
        tries = 0

        @retry_transient(attempts=5, max_seconds=90.0)
        def once() -> Any:
            nonlocal tries
            tries += 1
            if tries > 1:
                for node in call(all_nodes, self.driver, action="list", what="instances"):
                    if node.name == name and str(node.state) not in GONE:
                        return node
            return call(self.driver.create_node, name=name, action="start", what=f"instance {name}", attempts=1, **kwargs)

        return once()

    def create_instances(self, group: Resource, replicas: Sequence[int]) -> list[InstanceRef]:
        spec = group.spec
        image, size, locations = self._image(), self._size(spec["instance_size"]), self.account.locations(self.app)
        is_ec2 = self.account.settings.driver == "ec2"
        sg = self.account.firewall(self.app).find(self.app.name) if self.account.profile.firewall else None
        subnets = ec2.default_subnets(self.driver) if is_ec2 else {}
        vols = self.account.volumes(self.app).by_disk(self.app.name) if spec["volumes"] else {}  # (drivers without volumes)
        peers = self._peers(group)
        created: list[tuple[Any, int]] = []
        attach: list[tuple[int, str, str]] = []
        try:
            for r in replicas:
                location = locations[r % len(locations)]
                for d in group_disks(spec, r):
                    if disk_name(d.volume, r) not in vols:
                        raise TargetError(f"volume {disk_name(d.volume, r)} is missing, so {group.name} replica {r} cannot start; deploy again")
                    attach.append((r, disk_name(d.volume, r), f"/dev/sd{chr(ord('f') + d.index)}"))
                user_data = self._user_data(group, r, peers)
                kwargs: dict[str, Any] = dict(self.account.profile.user_data(user_data))  # type: ignore[arg-type]
                if self.account.settings.key_name:
                    kwargs["ex_keyname"] = self.account.settings.key_name
                if is_ec2:
                    kwargs["ex_metadata"] = {"portable:app": self.app.name, "portable:target": self.account.target_name, "portable:service": group.name, "portable:revision": spec["revision"], "portable:replica": str(r)}
                    kwargs["ex_subnet"] = subnets.get(location.name)
                    if sg is not None:
                        kwargs["ex_security_group_ids"] = [sg.id]
                name = node_name(self.owner, group.name, r, spec["revision"])
                node = self._create_node(name, size=size, image=image, location=location, **kwargs)
                created.append((node, r))
                if self.account.profile.after_create is not None:
                    self.account.profile.after_create(self.driver, node, user_data)
            nodes = [n for n, _ in created]
            self.ctx.progress(f"{group.name}: started {', '.join(n.id for n in nodes)}; waiting until running")
            self._wait_running(nodes, self.timeout, f"the instances of {group.name}")
            by_replica = {r: n for n, r in created}
            for node in nodes:
                if is_ec2:
                    ec2.require_imdsv2(self.driver, node.id)
            for r, disk, device in attach:
                call(self.driver.attach_volume, by_replica[r], vols[disk], device=device, action=f"attach volume {disk} to", what=f"instance {by_replica[r].id}")
            self.account.volumes(self.app).wait_attached(self.app.name, [d for _, d, _ in attach], self.timeout)
            if (group.spec["secrets"] and pushes_secrets(self.account.settings)) or fed_volumes(self.app, group):
                live = {n.id: n for n in self._nodes([InstanceRef(n.id, r, "") for n, r in created])}
                push_to_nodes(self.account.settings, self.account.target_name, self.driver, self.app, group,
                              [(live.get(n.id, n), r) for n, r in created], timeout=self.timeout, pause=self.ctx.pause, progress=self.ctx.progress)
        except BaseException:
            for node, _ in created:
                self.ctx.progress(f"{group.name}: could not start every instance; terminating {node.id}")
                call(self.driver.destroy_node, node, action="terminate", what=f"instance {node.id}")
            raise
        return [as_ref(n, parse_node_name(n.name, self.owner)) for n in self._nodes([InstanceRef(n.id, r, "") for n, r in created])]

    def wait_healthy(self, group: Resource, instances: Sequence[InstanceRef], timeout: float) -> None:
        nodes = self._nodes(instances)
        try:
            self._wait_running(nodes, timeout, f"the instances of {group.name}")
        except TargetError as exc:
            raise HealthCheckError(f"{group.name}: new instances did not reach the running state", details=exc.message) from None
        if self.account.settings.readiness == "probe":
            for node in self._nodes(instances):
                self._probe(group, node, timeout)

    def _probe(self, group: Resource, node: Any, timeout: float) -> None:
        health = group.spec["health"]
        ports = {p["port"]: p["host_port"] for p in group.spec["ports"] if p["expose"] == "public"}
        if not health or health["kind"] != "http" or health["port"] not in ports or not node.public_ips:
            return  # nothing reachable from here to probe: the node state is all there is
        url = f"http://{node.public_ips[0]}:{ports[health['port']]}{health['path']}"
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=health["timeout_s"]) as r:
                    if r.status < 400:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            cancel.pause(max(1.0, health["interval_s"]))
        raise HealthCheckError(f"{group.name}: {url} did not answer within {timeout:.0f}s", details=last)

    def register_with_lb(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        return None  # compute drivers have no load balancer (declared: no LOAD_BALANCER capability)

    def deregister(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        return None

    def terminate(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        nodes = self._nodes(instances)
        for node in nodes:
            call(self.driver.destroy_node, node, action="terminate", what=f"instance {node.id} of {group.name}")
        ids = {n.id for n in nodes}
        deadline = time.monotonic() + self.timeout
        while any(n.id in ids and str(n.state) not in GONE for n in call(all_nodes, self.driver, action="list", what="instances")):
            if time.monotonic() > deadline:
                raise TargetError(f"instances {', '.join(sorted(ids))} of {group.name} were not terminated within {self.timeout:.0f}s")
            cancel.pause(2)

    def mark_current(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        return None  # names carry the revision; the replica count is read from how many exist
