"""The instance-group Resource: one per service, what each of its VMs runs, and its disks.

`group_spec` is the cloud-neutral description of a service on VMs (image, env, ports,
volumes, health, instance size, replicas). Its `revision` hashes everything an instance is
booted with (all but `replicas`), so a changed revision means new instances (blue/green)
while a changed replica count only adds or removes instances.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from portable.errors import InputError
from portable.manifest.app import App
from portable.providers.hardening import runtime_security
from portable.manifest.model import Port, Service
from portable.plan.resources import Resource

GROUP_KIND = "instance-group"
VOLUME_KIND = "volume"
GIB = 1024**3


@dataclass(frozen=True)
class DiskSpec:
    """One data disk of one replica: created as a `volume` Resource, attached at boot."""

    volume: str  # the manifest volume
    replica: int  # which instance of the group it belongs to
    index: int  # its order among the instance's disks (device letter / unit number)
    size_gib: int
    path: str  # where the container sees it

    @property
    def name(self) -> str:
        return disk_name(self.volume, self.replica)

    @property
    def label(self) -> str:
        """Filesystem label written on first use (ext4 labels hold 16 characters)."""
        return f"portable-d{self.index}"


def disk_name(volume: str, replica: int) -> str:
    """`data` for the first replica, `data-1`, `data-2`... for the others."""
    return volume if replica == 0 else f"{volume}-{replica}"


def _host_port(port: Port, behind_load_balancer: bool) -> int | None:
    """Which port the VM itself listens on for `port`."""
    if port.expose == "none":
        return None
    if port.expose == "public" and port.protocol == "http" and behind_load_balancer:
        return port.port  # the load balancer listens on `published` and forwards here
    if port.expose == "public":
        return port.public_port
    return port.port


def _health(service: Service) -> dict[str, Any] | None:
    h = service.health
    if h is None:
        return None
    out: dict[str, Any] = {
        "interval_s": h.interval_s,
        "timeout_s": h.timeout_s,
        "retries": h.retries,
        "start_period_s": h.start_period_s,
    }
    if h.http is not None:
        out.update(kind="http", path=h.http.path, port=h.http.port)
    elif h.tcp is not None:
        out.update(kind="tcp", port=h.tcp.port)
    elif h.exec is not None:
        out.update(kind="exec", command=list(h.exec.command))
    return out


def _volume_sizes(app: App, names: Iterable[str]) -> dict[str, int]:
    """Size in GiB of the named volumes (only those a service mounts: all of them for every
    service made a 1,000-service render quadratic)."""
    volumes = app.manifest.volumes
    return {name: max(1, math.ceil(volumes[name].size_bytes / GIB)) for name in names if name in volumes}


def _secret_digest(app: App, name: str) -> str:
    try:
        return app.secret_digest(name)
    except InputError:  # not readable here (render without the value): deploy stops earlier on it
        return "unresolved"


def group_spec(app: App, service_name: str, *, instance_size: str, behind_load_balancer: bool) -> dict[str, Any]:
    """The instance-group spec of one service: plain JSON, no secret values (names and keyed digests)."""
    svc = app.services[service_name]
    if svc.image is None:
        raise InputError(
            f"services.{service_name}.build: VM targets pull images; they cannot build on the instance",
            hint="set the target's `registry` (with a prefix) to build and push it, or push the image and set `image`",
        )
    sizes = _volume_sizes(app, (m.volume for m in svc.volumes))
    spec: dict[str, Any] = {
        "app": app.name,
        "service": service_name,
        "image": svc.image,
        "command": list(svc.command) if svc.command is not None else None,
        "args": list(svc.args) if svc.args is not None else None,
        "env": dict(sorted(svc.env.items())),
        # the keyed digest of each value (never the value): a rotated secret changes the
        # revision, so plan shows the replace and deploy rolls the instances
        "secrets": [{"name": s.name, "path": s.mount_path, "digest": _secret_digest(app, s.name)} for s in svc.secrets],
        "files": [{"path": f.path, "content": f.content, "mode": f.mode} for f in svc.files],
        "ports": [
            {
                "port": p.port,
                "protocol": p.protocol,
                "expose": p.expose,
                "published": p.public_port,
                "host_port": _host_port(p, behind_load_balancer),
                "name": p.name,
            }
            for p in svc.ports
        ],
        "volumes": [
            {"volume": m.volume, "path": m.path, "read_only": m.read_only, "index": i, "size_gib": sizes.get(m.volume, 1)}
            for i, m in enumerate(svc.volumes)
        ],
        "health": _health(svc),
        "restart": svc.restart,
        "user": svc.user,
        "security": runtime_security(svc),
        **({"working_dir": svc.working_dir} if svc.working_dir else {}),
        "stop_grace_s": svc.stop_grace_s,
        "labels": dict(sorted(svc.labels.items())),
        "instance_size": instance_size,
        "replicas": svc.replicas,
    }
    spec["revision"] = revision_of(spec)
    return spec


def peer_services(app: App, service_name: str) -> tuple[str, ...]:
    """The services a VM of `service_name` may reach by name: every other service with ports.

    Looked up when an instance is started (its `--add-host` entries, from the peers' addresses
    then), never stored in the group spec: a spec listing every peer made a 1,000-service VM
    render 22 MB (quadratic), and made the revision of every group change, so every instance
    be replaced, whenever an unrelated service with ports was added."""
    return tuple(n for n in app.served_services if n != service_name)


def revision_of(spec: Mapping[str, Any]) -> str:
    """Hash of what an instance boots with: everything but the replica count."""
    boot = {k: v for k, v in spec.items() if k not in ("replicas", "revision")}
    return hashlib.sha256(json.dumps(boot, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


def group_disks(spec: Mapping[str, Any], replica: int) -> list[DiskSpec]:
    """The data disks replica `replica` of a group boots with, in attachment order."""
    return [
        DiskSpec(volume=v["volume"], replica=replica, index=v["index"], size_gib=v["size_gib"], path=v["path"])
        for v in spec["volumes"]
    ]


def _check_volume_owners(app: App) -> None:
    """A block device attaches to one machine: a volume may belong to one service only."""
    owner: dict[str, str] = {}
    for name, svc in app.services.items():
        for i, mount in enumerate(svc.volumes):
            first = owner.setdefault(mount.volume, name)
            if first != name:
                raise InputError(
                    f"services.{name}.volumes[{i}]: volume `{mount.volume}` is already mounted by service "
                    f"`{first}`; on VM targets a volume is a disk attached to one service's instances",
                    hint="give each service its own volume",
                )


def volume_resources(app: App, *, extra_spec: Mapping[str, Any] | None = None) -> list[Resource]:
    """One stateful `volume` Resource per (volume, replica) of every service that mounts one."""
    _check_volume_owners(app)
    sizes = _volume_sizes(app, app.manifest.volumes)
    out: list[Resource] = []
    for name, svc in app.services.items():
        for i, mount in enumerate(svc.volumes):
            for replica in range(svc.replicas):
                spec = {"volume": mount.volume, "service": name, "replica": replica, "index": i, "size_gib": sizes.get(mount.volume, 1)}
                spec.update(extra_spec or {})
                out.append(Resource(VOLUME_KIND, disk_name(mount.volume, replica), spec, service=name, stateful=True))
    return out


def instance_groups(
    app: App,
    *,
    size_for: Callable[[str, Service], str],
    behind_load_balancer: bool,
    depends_on: Callable[[str, Service], tuple[str, ...]] = lambda name, svc: (),
) -> list[Resource]:
    """One `instance-group` Resource per service with replicas > 0 (a group of none is no group).

    Each group depends on its own disks, on the groups of its `depends_on` services, and on
    whatever cloud objects `depends_on(name, service)` adds (security group, target groups).
    """
    out: list[Resource] = []
    for name, svc in app.services.items():
        if svc.replicas == 0:
            continue
        spec = group_spec(app, name, instance_size=size_for(name, svc), behind_load_balancer=behind_load_balancer)
        deps = [f"{VOLUME_KIND}/{disk_name(m.volume, r)}" for m in svc.volumes for r in range(svc.replicas)]
        deps += [f"{GROUP_KIND}/{d}" for d in svc.depends_on]
        deps += list(depends_on(name, svc))
        out.append(Resource(GROUP_KIND, name, spec, depends_on=tuple(dict.fromkeys(deps)), service=name))
    return out
