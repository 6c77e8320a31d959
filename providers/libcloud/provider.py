"""`LibcloudProvider`: the shared VM runtime on any Apache Libcloud compute driver.

What a driver can do is declared in `profiles.py` and checked by the engine at plan time,
so an app asking for a load balancer on a compute-only driver fails with the field that
asks for it instead of half-deploying. Ownership is carried by names (`naming.py`).
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from portable.errors import CapabilityError, TargetError
from portable.manifest.app import App
from portable.plan.plan import Action
from portable.plan.resources import InstanceStatus, LogLine, Observed, Resource, ServiceStatus
from portable.providers.base import ApplyContext, BaseProvider, Capability
from portable.providers.libcloud import ec2
from portable.providers.libcloud.connect import call, open_driver
from portable.providers.libcloud.firewall import KIND as SG_KIND, Firewall, firewall_rules
from portable.providers.libcloud.naming import owner_of
from portable.providers.libcloud.nodes import LibcloudGroupBackend, app_nodes, as_ref
from portable.providers.libcloud.profiles import DriverProfile, profile_for
from portable.providers.libcloud.settings import LibcloudSettings
from portable.providers.libcloud.volumes import Volumes
from portable.providers.vm import GROUP_KIND, VOLUME_KIND, disk_name, group_spec, render_cloud_init, roll_out, scale, select_instance_size, tear_down, volume_resources
from portable.providers.vm.group import revision_of


class LibcloudProvider(BaseProvider):
    name: ClassVar[str] = "libcloud"
    # migrated volumes are filled at first boot by the bootstrap (providers/vm), from the
    # archives' URLs, which the instances must be able to fetch (an S3/HTTP blob store)
    restores_in_translate: ClassVar[bool] = True

    def __init__(self, target_name: str, settings: LibcloudSettings) -> None:
        super().__init__(target_name, settings)
        self.settings: LibcloudSettings = settings
        self.profile: DriverProfile = profile_for(settings.driver)
        self._lock = threading.Lock()
        self._driver: Any = None
        self._locations: list[Any] | None = None

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.profile.capabilities

    # -- connections ---------------------------------------------------------------------

    def driver(self, app: App | None = None) -> Any:
        with self._lock:
            if self._driver is None:
                env = app.env if app is not None else os.environ
                base = app.base_dir if app is not None else Path.cwd()
                self._driver = open_driver(self.settings, self.profile, env, base)
            return self._driver

    def locations(self, app: App) -> list[Any]:
        """One location per zone to spread replicas over, in a stable order."""
        driver = self.driver(app)
        with self._lock:
            if self._locations is None:
                found = call(driver.list_locations, action="list", what="locations")
                if self.settings.locations:
                    found = [loc for loc in found if loc.name in self.settings.locations or loc.id in self.settings.locations]
                elif self.settings.driver == "ec2":
                    zones = set(ec2.default_subnets(driver))
                    found = [loc for loc in found if loc.name in zones]
                if not found:
                    raise TargetError(f"the {self.settings.driver} driver lists no usable location", hint="check `region` and `locations` on the target")
                self._locations = sorted(found, key=lambda loc: str(loc.name))
            return self._locations

    def owner(self, app: App) -> str:
        """What names carry: the app on this target (two targets may share an account)."""
        return owner_of(app.name, self.target_name)

    def firewall(self, app: App) -> Firewall:
        return Firewall(self.driver(app), self.owner(app), self.target_name)

    def volumes(self, app: App) -> Volumes:
        return Volumes(self.driver(app), self.settings.driver, lambda: self.locations(app), self.owner(app), self.target_name)

    # -- contract ------------------------------------------------------------------------

    def check(self) -> str:
        found = call(self.driver().list_locations, action="list", what="locations")
        region = f" in {self.settings.region}" if self.settings.region else ""
        return f"libcloud {self.settings.driver} driver{region}: {len(found)} location(s) reachable"

    def translate(self, app: App) -> list[Resource]:
        out: list[Resource] = []
        deps: list[str] = []
        if self.profile.firewall:
            out.append(Resource(SG_KIND, app.name, {"rules": firewall_rules(app)}))
            deps.append(f"{SG_KIND}/{app.name}")
        if Capability.VOLUMES in self.capabilities:
            out += volume_resources(app)
        for name, svc in app.services.items():
            if svc.replicas == 0:
                continue
            explicit = self.settings.instance_types.get(name) or self.settings.instance_type
            where = f"services.{name}.resources" if self.profile.catalogue else f"targets.{app.target_name}.instance_type"
            size = select_instance_size(svc.resources, self.profile.catalogue, explicit=explicit, field_path=where)
            spec = group_spec(app, name, instance_size=size, behind_load_balancer=False)
            spec["libcloud"] = {"driver": self.settings.driver, "region": self.settings.region, "image": self.settings.image, "key_name": self.settings.key_name}
            spec["revision"] = revision_of(spec)
            group_deps = deps + [f"{VOLUME_KIND}/{disk_name(m.volume, r)}" for m in svc.volumes for r in range(svc.replicas)]
            group_deps += [f"{GROUP_KIND}/{d}" for d in svc.depends_on]
            out.append(Resource(GROUP_KIND, name, spec, depends_on=tuple(group_deps), service=name))
        return out

    def observe(self, app: App) -> list[Observed]:
        desired = {r.key: r for r in self.translate(app)}
        out: list[Observed] = []
        if self.profile.firewall:
            out += self.firewall(app).observe(app.name, desired.get(f"{SG_KIND}/{app.name}"))
        if Capability.VOLUMES in self.capabilities:
            out += self.volumes(app).observe(app.name, desired)
        by_service: dict[str, list[tuple[Any, Any]]] = {}
        for node, parsed in app_nodes(self.driver(app), self.owner(app)):
            by_service.setdefault(parsed.service, []).append((node, parsed))
        for service, nodes in sorted(by_service.items()):
            revisions = {p.revision for _, p in nodes}
            complete = sorted(p.replica for _, p in nodes) == list(range(len(nodes)))
            want = desired.get(f"{GROUP_KIND}/{service}")
            current = want is not None and complete and revisions == {want.spec["revision"]} and len(nodes) == want.spec["replicas"]
            info = {"revision": next(iter(revisions)) if len(revisions) == 1 else "mixed", "instances": [as_ref(n, p).__dict__ for n, p in nodes]}
            out.append(Observed(GROUP_KIND, service, want.digest if current and want else None, service=service, info=info))
        return out

    def needs_replace(self, observed: Observed, desired: Resource) -> bool:
        return desired.kind == GROUP_KIND and observed.info.get("revision") != desired.spec["revision"]

    def apply(self, action: Action, ctx: ApplyContext) -> None:
        app, res = ctx.app, action.desired
        if action.op == "delete":
            if action.kind == GROUP_KIND:
                group = res or Resource(GROUP_KIND, action.name, {"replicas": 0, "volumes": []}, service=action.name)
                current = [as_ref(n, p) for n, p in app_nodes(self.driver(app), self.owner(app), action.name)]
                tear_down(LibcloudGroupBackend(self, app, ctx), group, current, progress=ctx.progress)
            elif action.kind == VOLUME_KIND:
                self.volumes(app).delete(app.name, action.name, ctx)
            elif action.kind == SG_KIND:
                self.firewall(app).delete(app.name, ctx)
            else:
                raise TargetError(f"the libcloud provider does not know resource kind {action.kind}")
            return
        assert res is not None
        if res.kind == SG_KIND:
            self.firewall(app).ensure(app.name, res, ctx)
        elif res.kind == VOLUME_KIND:
            self.volumes(app).ensure(app.name, res, ctx)
        elif res.kind == GROUP_KIND:
            backend = LibcloudGroupBackend(self, app, ctx)
            current = [as_ref(n, p) for n, p in app_nodes(self.driver(app), self.owner(app), res.name)]
            if action.op == "update" and current and all(i.revision == res.spec["revision"] for i in current):
                scale(backend, res, current, timeout=backend.timeout, progress=ctx.progress)
            else:
                roll_out(backend, res, current, timeout=backend.timeout, progress=ctx.progress)
        else:
            raise TargetError(f"the libcloud provider does not know resource kind {res.kind}")

    # -- reporting -----------------------------------------------------------------------

    def status(self, app: App) -> list[ServiceStatus]:
        by_service: dict[str, list[Any]] = {}
        for node, parsed in app_nodes(self.driver(app), self.owner(app)):
            by_service.setdefault(parsed.service, []).append((node, parsed))
        out = []
        for name, svc in app.services.items():
            nodes = by_service.get(name, [])
            insts = tuple(InstanceStatus(n.id, str(n.state), None, (n.private_ips or [None])[0], p.revision) for n, p in nodes)
            public = [p for p in svc.ports if p.expose == "public"]
            endpoints = tuple(f"{'http' if p.protocol == 'http' else p.protocol}://{ip}:{p.public_port}" for n, _ in nodes for ip in (n.public_ips or [])[:1] for p in public)
            running = sum(1 for i in insts if i.state == "running")
            out.append(ServiceStatus(name, svc.replicas, running, running, endpoints, insts))
        return out

    def logs(self, app: App, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]:
        raise CapabilityError(
            f"target {app.target_name} (libcloud {self.settings.driver}) cannot read service logs: libcloud's compute API has no console or log access",
            hint=f"ssh to an instance and run `docker logs vm-{app.name}-SERVICE`",
        )

    def render(self, app: App, resources: list[Resource], outdir: Path) -> list[Path]:
        outdir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for res in resources:
            if res.kind == GROUP_KIND:
                path = outdir / "user-data" / f"{res.name}.yaml"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(render_cloud_init(app, res, registry=self.settings.registry))
                written.append(path)
        doc = {
            "app": app.name, "target": app.target_name, "provider": "libcloud", "driver": self.settings.driver,
            "capabilities": sorted(c.value for c in self.capabilities), "notes": list(self.profile.notes),
            "resources": [dict(r.to_dict(), digest=r.digest) for r in resources],
        }
        out = outdir / f"{app.name}.libcloud.json"
        out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return written + [out]
