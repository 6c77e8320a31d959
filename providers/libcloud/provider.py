"""`LibcloudProvider`: the shared VM runtime on any Apache Libcloud compute driver.

What a driver can do is declared in `profiles.py` and checked by the engine at plan time,
so an app asking for a load balancer on a compute-only driver fails with the field that
asks for it instead of half-deploying. Ownership is carried by names (`naming.py`). This
class only routes: translation is in `translate.py`, the account (driver, locations, firewall,
volumes) in `account.py`, nodes in `nodes.py`, error mapping in `errors.py`.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from portable import pretty_json
from portable.errors import CapabilityError, Problem, TargetError
from portable.manifest.app import App
from portable.plan.plan import Action
from portable.plan.resources import InstanceStatus, LogLine, Observed, Resource, ServiceStatus
from portable.providers.base import ApplyContext, BaseProvider, Capability
from portable.providers.libcloud.account import LibcloudAccount
from portable.providers.libcloud.connect import call
from portable.providers.libcloud.exec import LibcloudExec
from portable.providers.libcloud.drift import FIELD as DRIFT_FIELD, HINTS as DRIFT_HINTS, serving, state_of
from portable.providers.libcloud.firewall import KIND as SG_KIND
from portable.providers.libcloud.nodes import LibcloudGroupBackend, app_nodes, as_ref
from portable.providers.libcloud.owned import LibcloudOwned
from portable.providers.libcloud.preflight import preflight
from portable.providers.libcloud.profiles import DriverProfile, profile_for
from portable.providers.libcloud.secrets import legacy_path_warnings, metadata_secret_refusals, secret_source
from portable.providers.libcloud.settings import LibcloudSettings
from portable.providers.libcloud.translate import translate
from portable.providers.vm import GROUP_KIND, VOLUME_KIND, render_cloud_init, roll_out, scale, tear_down
from portable.providers.vm.drift import live_of, managed_of


# what SSH to the nodes adds (providers/libcloud/data.py); declared only when `ssh` and `key_name` are set
SSH_ROLES = frozenset({Capability.EXPORT_VOLUMES, Capability.QUIESCE, Capability.DATA_CHANNEL, Capability.RESTORE_RUNNING,
                       Capability.RESTORE_FED})  # a migration's archives written over SSH while the first boot waits (vm/archive_push.py)
WITHOUT_SSH = "set `key_name` (the key pair the nodes are created with) and `ssh` (user, key_file, address) on the target"


class LibcloudProvider(LibcloudOwned, LibcloudExec, BaseProvider):
    name: ClassVar[str] = "libcloud"
    drift_hints: ClassVar[Mapping[str, str]] = DRIFT_HINTS
    refusals: ClassVar[dict[Capability, tuple[str, str | None]]] = {
        Capability.EXPORT_VOLUMES: ("cannot export volume data without SSH to its nodes", WITHOUT_SSH),
        Capability.QUIESCE: ("cannot stop its writers (--quiesce) without SSH to its nodes", WITHOUT_SSH),
        Capability.RESTORE_RUNNING: ("cannot restore volume data into the deployed app without SSH to its nodes", WITHOUT_SSH),
        Capability.EXEC: ("cannot run a command inside a service's replica without SSH to its nodes (set `key_name` and `ssh` on the target)", None),
    }

    def __init__(self, target_name: str, settings: LibcloudSettings) -> None:
        super().__init__(target_name, settings)
        self.settings: LibcloudSettings = settings
        self.profile: DriverProfile = profile_for(settings.driver)
        self.account = LibcloudAccount(target_name, settings, self.profile)

    @property
    def capabilities(self) -> frozenset[Capability]:
        # migrated volumes are filled at first boot: written over SSH while the bootstrap waits
        # (RESTORE_FED, with `ssh`), else fetched by the bootstrap from the archives' URLs
        # (--plaintext-transit; an S3/HTTP blob store the instances can reach)
        # portable exec: docker exec over SSH (exec.py), on any driver whose nodes take the key pair
        execs = {Capability.EXEC} if self.settings.ssh is not None and self.settings.key_name else set()
        if Capability.VOLUMES in self.profile.capabilities:
            ssh = SSH_ROLES if self.settings.ssh is not None and self.settings.key_name else frozenset()
            return self.profile.capabilities | {Capability.RESTORE_AT_BOOT, Capability.LIST_OWNED} | ssh | execs
        return self.profile.capabilities | {Capability.LIST_OWNED} | execs  # portable gc (owned.py)

    # -- connections ---------------------------------------------------------------------

    def driver(self, app: App | None = None) -> Any:
        return self.account.driver(app)

    def owner(self, app: App) -> str:
        """What names carry: the app on this target (two targets may share an account)."""
        return self.account.owner(app)

    def dns_records(self, app: App) -> Any:
        """The DnsProvider of `dns:` (a migration's `--dns-provider <this target>`), or None."""
        if self.settings.dns is None:
            return None
        from portable.providers.libcloud.dns import records_of

        return records_of(self.settings.dns, app.env, f"targets.{self.target_name}.dns")

    # -- contract ------------------------------------------------------------------------

    def check(self) -> str:
        found = call(self.driver().list_locations, action="list", what="locations")
        region = f" in {self.settings.region}" if self.settings.region else ""
        return f"libcloud {self.settings.driver} driver{region}: {len(found)} location(s) reachable"

    def translate(self, app: App) -> list[Resource]:
        return translate(app, self.settings, self.profile)

    def plan_warnings(self, app: App) -> list[str]:
        """Secrets that would ride in the user data, said with the setting that moves them (secrets.py)."""
        return legacy_path_warnings(app, self.settings)

    def unmet_settings(self, app: App) -> list[Problem]:
        """Secrets with no SSH are refused unless the target accepts the user data (secrets.py)."""
        return metadata_secret_refusals(app, self.settings)

    def preflight(self, app: App) -> None:
        """Registry password, driver and credentials file, image: read-only (preflight.py)."""
        preflight(app, self.account)

    def observe(self, app: App) -> list[Observed]:
        desired = {r.key: r for r in self.translate(app)}
        out: list[Observed] = []
        if self.profile.firewall:
            out += self.account.firewall(app).observe(app.name, desired.get(f"{SG_KIND}/{app.name}"))
        if Capability.VOLUMES in self.capabilities:
            out += self.account.volumes(app).observe(app.name, desired)
        by_service: dict[str, list[tuple[Any, Any]]] = {}
        for node, parsed in app_nodes(self.driver(app), self.owner(app)):
            by_service.setdefault(parsed.service, []).append((node, parsed))
        for service, nodes in sorted(by_service.items()):
            revisions = {p.revision for _, p in nodes}
            complete = sorted(p.replica for _, p in nodes) == list(range(len(nodes)))
            want = desired.get(f"{GROUP_KIND}/{service}")
            current = want is not None and complete and revisions == {want.spec["revision"]} and len(nodes) == want.spec["replicas"]
            info = {"revision": next(iter(revisions)) if len(revisions) == 1 else "mixed", "instances": [as_ref(n, p).__dict__ for n, p in nodes]}
            live = live_of(DRIFT_FIELD, [(p.replica, state_of(node)) for node, p in nodes])
            out.append(Observed(GROUP_KIND, service, want.digest if current and want else None, service=service, info=info, live=live))
        return out

    def managed_fields(self, resource: Resource) -> Mapping[str, Any]:
        """Every replica's node running (drift.py)."""
        return managed_of(resource, DRIFT_FIELD, "running")

    def needs_replace(self, observed: Observed, desired: Resource) -> bool:
        return desired.kind == GROUP_KIND and observed.info.get("revision") != desired.spec["revision"]

    def apply(self, action: Action, ctx: ApplyContext) -> None:
        app, res = ctx.app, action.desired
        if action.op == "delete":
            if action.kind == GROUP_KIND:
                group = res or Resource(GROUP_KIND, action.name, {"replicas": 0, "volumes": []}, service=action.name)
                current = [as_ref(n, p) for n, p in app_nodes(self.driver(app), self.owner(app), action.name)]
                tear_down(LibcloudGroupBackend(self.account, app, ctx), group, current, progress=ctx.progress)
            elif action.kind == VOLUME_KIND:
                self.account.volumes(app).delete(app.name, action.name, ctx)
            elif action.kind == SG_KIND:
                self.account.firewall(app).delete(app.name, ctx)
            else:
                raise TargetError(f"the libcloud provider does not know resource kind {action.kind}")
            return
        assert res is not None
        if res.kind == SG_KIND:
            self.account.firewall(app).ensure(app.name, res, ctx)
        elif res.kind == VOLUME_KIND:
            self.account.volumes(app).ensure(app.name, res, ctx)
        elif res.kind == GROUP_KIND:
            backend = LibcloudGroupBackend(self.account, app, ctx)
            nodes = app_nodes(self.driver(app), self.owner(app), res.name)
            current = [as_ref(n, p) for n, p in nodes]
            # a node stopped outside portable does not serve: roll out fresh ones rather than only scale
            if action.op == "update" and current and serving(nodes) and all(i.revision == res.spec["revision"] for i in current):
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
                path.write_text(render_cloud_init(app, res, registry=self.settings.registry, secret_source=secret_source(self.settings)))
                written.append(path)
        doc = {
            "app": app.name, "target": app.target_name, "provider": "libcloud", "driver": self.settings.driver,
            "capabilities": sorted(c.value for c in self.capabilities), "notes": list(self.profile.notes),
            "resources": [dict(r.to_dict(), digest=r.digest) for r in resources],
        }
        out = outdir / f"{app.name}.libcloud.json"
        out.write_text(pretty_json.dumps(doc) + "\n")
        return written + [out]
