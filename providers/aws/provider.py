"""`AwsProvider`: deploys an app to EC2 with boto3 (standard credential chain).

Security groups, target groups, an ALB, EBS volumes, instance groups (blue/green through
the shared VM runtime) and an optional Route 53 record, all tagged `portable:app`.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from portable.errors import TargetError
from portable.manifest.app import App
from portable.plan.plan import Action
from portable.plan.resources import InstanceStatus, LogLine, Observed, Resource, ServiceStatus
from portable.providers.aws import tags as T
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.exec import AwsExec
from portable.providers.aws.drift import FIELD as DRIFT_FIELD, HINTS as DRIFT_HINTS, state_of
from portable.providers.aws.discovery import KIND as ZONE_KIND, ServiceDiscovery
from portable.providers.aws.dns import Dns
from portable.providers.aws.errors import call
from portable.providers.aws.instances import Ec2GroupBackend, as_ref, list_instances
from portable.providers.aws.loadbalancer import LoadBalancing
from portable.providers.aws.owned import AwsOwned
from portable.providers.aws.network import Network, SecurityGroups
from portable.providers.aws.preflight import preflight
from portable.providers.aws.render import render_files
from portable.providers.aws.settings import AwsSettings
from portable.providers.aws.secrets import AppSecrets
from portable.providers.aws.translate import DNS_KIND, LB_KIND, SG_KIND, TG_KIND, translate
from portable.providers.aws.volumes import Volumes
from portable.providers.base import ApplyContext, BaseProvider, Capability
from portable.providers.vm import GROUP_KIND, VOLUME_KIND, roll_out, scale, tear_down
from portable.providers.vm.drift import live_of, managed_of


# what SSH to the instances adds (providers/aws/data.py); declared only when `ssh` and `key_name` are set
SSH_ROLES = frozenset({Capability.EXPORT_VOLUMES, Capability.QUIESCE, Capability.DATA_CHANNEL, Capability.RESTORE_RUNNING,
                       Capability.EXEC,  # portable exec: docker exec over SSH (exec.py)
                       Capability.RESTORE_FED})  # a migration's archives written over SSH while the first boot waits (vm/archive_push.py)
WITHOUT_SSH = "set `key_name` (the EC2 key pair the instances are launched with) and `ssh` (user, key_file, address) on the target"


class AwsProvider(AwsOwned, AwsExec, BaseProvider):
    name: ClassVar[str] = "aws"
    refusals: ClassVar[dict[Capability, tuple[str, str | None]]] = {
        Capability.EXPORT_VOLUMES: ("cannot export volume data without SSH to its instances", WITHOUT_SSH),
        Capability.QUIESCE: ("cannot stop its writers (--quiesce) without SSH to its instances", WITHOUT_SSH),
        Capability.RESTORE_RUNNING: ("cannot restore volume data into the deployed app without SSH to its instances", WITHOUT_SSH),
        Capability.EXEC: ("cannot run a command inside a service's replica without SSH to its instances (set `key_name` and `ssh` on the target)", None),
    }
    default_parallelism: ClassVar[int] = 8  # EC2's request rate limits; throttling is retried anyway
    drift_hints: ClassVar[Mapping[str, str]] = DRIFT_HINTS
    # migrated volumes are filled at first boot: written over SSH while the bootstrap waits
    # (RESTORE_FED, with `ssh`), else fetched by the bootstrap from the archives' URLs
    # (--plaintext-transit; an S3/HTTP blob store the instances can reach)
    base_capabilities = frozenset({
        Capability.VOLUMES, Capability.PUBLIC_HTTP, Capability.PUBLIC_TCP, Capability.LOAD_BALANCER,
        Capability.LOGS, Capability.RESTORE_AT_BOOT, Capability.LIST_OWNED,
    })

    def __init__(self, target_name: str, settings: AwsSettings) -> None:
        super().__init__(target_name, settings)
        self.settings: AwsSettings = settings
        self.clients = AwsClients(settings, target_name)
        self.network = Network(self.clients)
        self.groups = SecurityGroups(self.clients, self.network)
        self.lbs = LoadBalancing(self.clients, self.network, self.groups)
        self.volumes = Volumes(self.clients, self.network)
        self.dns = Dns(self.clients, self.lbs)
        self.discovery = ServiceDiscovery(self.clients, self.network)
        self.secrets = AppSecrets(self.clients)  # SSM parameters + the instance profile reading them

    @property
    def capabilities(self) -> frozenset[Capability]:
        if self.settings.ssh is not None and self.settings.key_name:
            return self.base_capabilities | SSH_ROLES
        return self.base_capabilities

    # -- contract ------------------------------------------------------------------------

    def check(self) -> str:
        who = call(self.clients.session.client("sts", endpoint_url=self.settings.endpoint_url).get_caller_identity, action="identify", what="the caller")
        vpc = self.network.vpc_id()
        where = f" via {self.settings.endpoint_url}" if self.settings.endpoint_url else ""
        return f"AWS account {who['Account']} in {self.clients.region}{where}, VPC {vpc}"

    def translate(self, app: App) -> list[Resource]:
        return translate(app, self.settings)

    def preflight(self, app: App) -> None:
        """Registry password, network, image, key pair, hosted zone: read-only (preflight.py)."""
        preflight(app, self.clients, self.network, self.dns)

    def observe(self, app: App) -> list[Observed]:
        out = self.groups.observe(app.name) + self.lbs.observe(app.name) + self.volumes.observe(app.name)
        out += self._observe_groups(app)
        out += self.discovery.observe(app.name)
        out += self.dns.observe(app.name)
        return out

    def _observe_groups(self, app: App) -> list[Observed]:
        by_service: dict[str, list[dict[str, Any]]] = {}
        for inst in list_instances(self.clients, app.name):
            service = T.tag_dict(inst.get("Tags")).get(T.SERVICE)
            if service:
                by_service.setdefault(service, []).append(inst)
        out = []
        for service, instances in sorted(by_service.items()):
            tags = [T.tag_dict(i.get("Tags")) for i in instances]
            digests = {t.get(T.DIGEST) for t in tags}
            revisions = {t.get(T.REVISION) for t in tags}
            counts = {t.get(T.REPLICAS) for t in tags}
            complete = len(counts) == 1 and str(len(instances)) in counts and len({t.get(T.REPLICA) for t in tags}) == len(instances)
            complete = complete and all(i["State"]["Name"] in ("pending", "running") for i in instances)  # a stopped one is repaired
            digest = digests.pop() if len(digests) == 1 and complete else None
            info = {"revision": revisions.pop() if len(revisions) == 1 else "mixed", "instances": [as_ref(i).__dict__ for i in instances]}
            states = [(int(t.get(T.REPLICA, "0")), state_of(i)) for t, i in zip(tags, instances, strict=True)]
            live = live_of(DRIFT_FIELD, states, int(next(iter(counts)) or 0) if len(counts) == 1 else None)
            out.append(Observed(GROUP_KIND, service, digest, service=service, info=info, live=live))
        return out

    def managed_fields(self, resource: Resource) -> Mapping[str, Any]:
        """Every replica's instance running (providers/vm/drift.py)."""
        return managed_of(resource, DRIFT_FIELD, "running")

    def needs_replace(self, observed: Observed, desired: Resource) -> bool:
        if desired.kind == GROUP_KIND:
            return observed.info.get("revision") != desired.spec["revision"]
        return False

    def apply(self, action: Action, ctx: ApplyContext) -> None:
        app = ctx.app
        res = action.desired
        if action.op == "delete":
            self._delete(app, action, ctx)
            return
        assert res is not None
        if res.kind == SG_KIND:
            self.groups.ensure(app.name, res, ctx)
        elif res.kind == TG_KIND:
            self.lbs.ensure_target_group(app.name, res, ctx)
        elif res.kind == LB_KIND:
            self.lbs.ensure_load_balancer(app.name, res, ctx)
        elif res.kind == VOLUME_KIND:
            self.volumes.ensure(app.name, res, ctx)
        elif res.kind == DNS_KIND:
            self.dns.ensure(app.name, res, ctx)
        elif res.kind == ZONE_KIND:
            self.discovery.ensure(app.name, res, ctx)
        elif res.kind == GROUP_KIND:
            self._apply_group(app, action.op, res, ctx)
        else:
            raise TargetError(f"the aws provider does not know resource kind {res.kind}")

    def _backend(self, app: App, ctx: ApplyContext) -> Ec2GroupBackend:
        return Ec2GroupBackend(self.clients, self.network, self.groups, self.lbs, self.volumes, self.discovery, app, ctx)

    def _apply_group(self, app: App, op: str, group: Resource, ctx: ApplyContext) -> None:
        backend = self._backend(app, ctx)
        backend.instance_profile = self.secrets.ensure(app, group)  # values written now, read by the instances at boot
        backend.secret_source = self.secrets.source(app)
        found = list_instances(self.clients, app.name, group.name)
        current = [as_ref(i) for i in found]
        timeout = backend.timeout
        serving = all(i["State"]["Name"] in ("pending", "running") for i in found)
        if op == "update" and current and serving and all(i.revision == group.spec["revision"] for i in current):
            scale(backend, group, current, timeout=timeout, progress=ctx.progress)
        else:
            roll_out(backend, group, current, timeout=timeout, progress=ctx.progress)

    def _delete(self, app: App, action: Action, ctx: ApplyContext) -> None:
        kind, name = action.kind, action.name
        if kind == GROUP_KIND:
            group = action.desired or Resource(GROUP_KIND, name, {"replicas": 0, "volumes": []}, service=name)
            current = [as_ref(i) for i in list_instances(self.clients, app.name, name)]
            tear_down(self._backend(app, ctx), group, current, progress=ctx.progress)
        elif kind == SG_KIND:
            self.groups.delete(app.name, name, ctx)
            if name == app.name:  # the instances' group goes after every instance: so do their secrets
                self.secrets.delete(app.name)
        elif kind == TG_KIND:
            self.lbs.delete_target_group(app.name, name, ctx)
        elif kind == LB_KIND:
            self.lbs.delete_load_balancer(app.name, ctx)
        elif kind == VOLUME_KIND:
            self.volumes.delete(app.name, name, ctx)
        elif kind == DNS_KIND:
            self.dns.delete(name)
        elif kind == ZONE_KIND:
            self.discovery.delete(app.name)
        else:
            raise TargetError(f"the aws provider does not know resource kind {kind}")

    # -- reporting -----------------------------------------------------------------------

    def status(self, app: App) -> list[ServiceStatus]:
        health: dict[str, bool] = {}
        endpoints: dict[str, list[str]] = {}
        lb = self.lbs.load_balancer(app.name)
        for tg_name, (tg, _tags) in self.lbs.target_groups(app.name).items():
            found = call(self.clients.elbv2.describe_target_health, TargetGroupArn=tg["TargetGroupArn"], action="read the target health of", what=tg_name)
            for d in found["TargetHealthDescriptions"]:
                health[d["Target"]["Id"]] = health.get(d["Target"]["Id"], True) and d["TargetHealth"]["State"] == "healthy"
        if lb is not None:
            for li in call(self.clients.elbv2.describe_listeners, LoadBalancerArn=lb[0]["LoadBalancerArn"], action="list", what="listeners")["Listeners"]:
                for tg, tags in self.lbs.target_groups(app.name).values():
                    if any(a.get("TargetGroupArn") == tg["TargetGroupArn"] for a in li["DefaultActions"]):
                        endpoints.setdefault(tags.get(T.SERVICE, ""), []).append(f"http://{lb[0]['DNSName']}:{li['Port']}")
        by_service: dict[str, list[InstanceStatus]] = {}
        for inst in list_instances(self.clients, app.name):
            tags = T.tag_dict(inst.get("Tags"))
            state = inst["State"]["Name"]
            by_service.setdefault(tags.get(T.SERVICE, ""), []).append(
                InstanceStatus(inst["InstanceId"], state, health.get(inst["InstanceId"]), inst.get("PrivateIpAddress"), tags.get(T.REVISION))
            )
        out = []
        for name, svc in app.services.items():
            insts = by_service.get(name, [])
            running = sum(1 for i in insts if i.state == "running")
            healthy = sum(1 for i in insts if i.state == "running" and i.healthy is not False)
            out.append(ServiceStatus(name, svc.replicas, running, healthy, tuple(endpoints.get(name, [])), tuple(insts)))
        return out

    def logs(self, app: App, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]:
        """The instances' console output (what the bootstrap printed); `follow` is not supported."""
        for inst in list_instances(self.clients, app.name):
            tags = T.tag_dict(inst.get("Tags"))
            if tags.get(T.SERVICE) not in services:
                continue
            out = call(self.clients.ec2.get_console_output, InstanceId=inst["InstanceId"], Latest=True, action="read the console of", what=f"instance {inst['InstanceId']}")
            for line in (out.get("Output") or "").splitlines()[-tail:]:
                yield LogLine(tags.get(T.SERVICE, ""), f"{tags.get(T.REPLICA, '0')}:{inst['InstanceId']}", line)

    def render(self, app: App, resources: list[Resource], outdir: Path) -> list[Path]:
        return render_files(app, resources, outdir, self.settings)
