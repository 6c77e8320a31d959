"""Pure translation of an App into the AWS resources it needs (no I/O, no secret values).

Kinds: `security-group` (one for the instances, one for the load balancer), `target-group`
(one per public http port), `load-balancer` (one ALB per app, listeners in its spec),
`volume` (EBS, stateful), `instance-group` (the shared VM runtime's group plus the AWS
fields that decide the machine), `dns-zone` (private Route 53 zone for service discovery,
when the app has several services), `dns-record` (Route 53, when `domain` is set).
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

from portable.errors import InputError
from portable.manifest.app import App
from portable.manifest.model import Service
from portable.plan.resources import Resource
from portable.providers.aws.discovery import KIND as ZONE_KIND, zone_name
from portable.providers.aws.settings import AwsSettings
from portable.providers.vm import GROUP_KIND, InstanceSize, disk_name, group_spec, select_instance_size, volume_resources
from portable.providers.vm.group import revision_of
from portable.paused_gc import without_gc

SG_KIND = "security-group"
TG_KIND = "target-group"
LB_KIND = "load-balancer"
DNS_KIND = "dns-record"
DEFAULT_AMI = "ubuntu-24.04 (current image, resolved at apply time)"

# General purpose burstable sizes first, then larger general purpose ones.
CATALOGUE = (
    InstanceSize("t3.nano", 2, 512), InstanceSize("t3.micro", 2, 1024), InstanceSize("t3.small", 2, 2048),
    InstanceSize("t3.medium", 2, 4096), InstanceSize("t3.large", 2, 8192), InstanceSize("t3.xlarge", 4, 16384),
    InstanceSize("t3.2xlarge", 8, 32768), InstanceSize("m6i.4xlarge", 16, 65536), InstanceSize("m6i.8xlarge", 32, 131072),
)


def aws_name(*parts: str, limit: int = 32) -> str:
    """A name AWS accepts for ALBs and target groups: <= 32 chars, letters, digits, hyphens."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", "-".join(parts)).strip("-")
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def instance_sg_name(app: App) -> str:
    return app.name


def lb_sg_name(app: App) -> str:
    return f"{app.name}-lb"


def target_group_name(service: str, port: int) -> str:
    return f"{service}-{port}"


def _public_http(svc: Service) -> list[Any]:
    return [p for p in svc.ports if p.expose == "public" and p.protocol == "http"]


def _listeners(app: App) -> list[dict[str, Any]]:
    """One ALB listener per published http port; two services cannot share one."""
    taken: dict[int, str] = {}
    out = []
    for name, svc in app.services.items():
        for i, port in enumerate(svc.ports):
            if port.expose != "public" or port.protocol != "http":
                continue
            if port.public_port in taken:
                raise InputError(
                    f"services.{name}.ports[{i}]: published port {port.public_port} is already used by "
                    f"{taken[port.public_port]}; the load balancer has one listener per port",
                    hint="publish it on another port",
                )
            taken[port.public_port] = f"services.{name}"
            out.append({"port": port.public_port, "target_group": target_group_name(name, port.port)})
    return sorted(out, key=lambda x: x["port"])


def _target_groups(app: App) -> list[Resource]:
    out = []
    for name, svc in app.services.items():
        for port in _public_http(svc):
            h = svc.health
            path = h.http.path if h is not None and h.http is not None and h.http.port == port.port else "/"
            spec = {
                "aws_name": aws_name(app.name, app.target_name, name, str(port.port)),
                "port": port.port,
                "protocol": "HTTP",
                "health_path": path,
                "health_interval_s": max(5, min(300, int(h.interval_s))) if h else 30,
                "healthy_threshold": max(2, min(10, h.retries)) if h else 3,
                "deregistration_delay_s": max(0, min(3600, int(svc.stop_grace_s))),
            }
            out.append(Resource(TG_KIND, target_group_name(name, port.port), spec, service=name))
    return out


def _instance_rules(app: App, behind_lb: bool) -> list[dict[str, Any]]:
    rules: set[tuple[int, str, str]] = set()
    for svc in app.services.values():
        for p in svc.ports:
            proto = "udp" if p.protocol == "udp" else "tcp"
            if p.expose == "public" and p.protocol == "http" and behind_lb:
                rules.add((p.port, proto, "load-balancer"))
            elif p.expose == "public":
                rules.add((p.public_port, proto, "0.0.0.0/0"))
            elif p.expose == "internal":
                rules.add((p.port, proto, "self"))
    return [{"port": port, "protocol": proto, "from": src} for port, proto, src in sorted(rules)]


@without_gc  # every Resource of the app, no cycles: see portable/paused_gc.py
def translate(app: App, settings: AwsSettings) -> list[Resource]:
    """Every AWS resource `app` needs, with dependencies so creates and deletes order right."""
    listeners = _listeners(app)
    has_lb = bool(listeners)
    vpc = {"vpc_id": settings.vpc_id or "default", "subnet_ids": list(settings.subnet_ids) or "default-for-az"}
    out: list[Resource] = []
    sg_deps: tuple[str, ...] = ()
    if has_lb:
        lb_rules = [{"port": li["port"], "protocol": "tcp", "from": "0.0.0.0/0"} for li in listeners]
        out.append(Resource(SG_KIND, lb_sg_name(app), {"role": "load-balancer", "rules": lb_rules, **vpc}))
        sg_deps = (f"{SG_KIND}/{lb_sg_name(app)}",)
    out.append(Resource(SG_KIND, instance_sg_name(app), {"role": "instances", "rules": _instance_rules(app, has_lb), **vpc}, depends_on=sg_deps))
    target_groups = _target_groups(app)
    out += target_groups
    if has_lb:
        lb_spec = {"aws_name": aws_name(app.name, app.target_name), "scheme": "internet-facing", "listeners": listeners, **vpc}
        lb_deps = sg_deps + tuple(tg.key for tg in target_groups)
        out.append(Resource(LB_KIND, app.name, lb_spec, depends_on=lb_deps))
        if settings.domain:
            out.append(Resource(DNS_KIND, settings.domain, {"hosted_zone": settings.hosted_zone, "type": "A (alias to the load balancer)"}, depends_on=(f"{LB_KIND}/{app.name}",)))
    out += volume_resources(app, extra_spec={"volume_type": "gp3"})
    discovery = len(app.services) > 1  # services find each other by name through a private zone
    if discovery:
        zone = zone_name(app.name, app.target_name)
        out.append(Resource(ZONE_KIND, zone, {"name": zone, "private": True, "vpc_id": vpc["vpc_id"]}))
    for name, svc in app.services.items():
        if svc.replicas == 0:
            continue  # nothing runs: observe could never report the group, so it must not be desired
        size = select_instance_size(
            svc.resources, CATALOGUE, explicit=settings.instance_types.get(name) or settings.instance_type, field_path=f"services.{name}.resources"
        )
        spec = group_spec(app, name, instance_size=size, behind_load_balancer=has_lb)
        tgs = [target_group_name(name, p.port) for p in _public_http(svc)]
        spec["aws"] = {
            "ami": settings.ami or DEFAULT_AMI,
            "key_name": settings.key_name,
            "root_volume_gib": settings.root_volume_gib,
            "target_groups": tgs,
            "imds": "v2-required",
            "dns_search": zone_name(app.name, app.target_name) if discovery else None,
            **vpc,
        }
        spec["revision"] = revision_of(spec)
        deps = [f"{SG_KIND}/{instance_sg_name(app)}"]
        if discovery:
            deps.append(f"{ZONE_KIND}/{zone_name(app.name, app.target_name)}")
        deps += [f"{TG_KIND}/{t}" for t in tgs]
        if tgs:
            deps.append(f"{LB_KIND}/{app.name}")  # target health is only checked once a listener uses the group
        deps += [f"volume/{disk_name(m.volume, r)}" for m in svc.volumes for r in range(svc.replicas)]
        deps += [f"{GROUP_KIND}/{d}" for d in svc.depends_on]
        out.append(Resource(GROUP_KIND, name, spec, depends_on=tuple(deps), service=name))
    return out
