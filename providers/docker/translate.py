"""App -> the Docker resources it needs: a network, volumes, front proxies, one container per replica.

Pure apart from two reads the spec needs to be honest about what changed: the build context's
content hash (so an edited source tree rolls the service) and each secret's one-way digest
(so a rotated secret rolls its users). No engine call, no secret value in any spec.
"""
from __future__ import annotations

from typing import Any

from portable.errors import InputError
from portable.manifest.app import App
from portable.providers.hardening import runtime_security
from portable.manifest.model import Health, Port, Service
from portable.plan.resources import Resource

from portable.providers.docker import naming
from portable.providers.docker.build_context import context_hash
from portable.providers.docker.settings import DockerSettings
from portable.paused_gc import without_gc

PROXY_CONTAINER_PORT = 80


@without_gc  # every Resource of the app, no cycles: see portable/paused_gc.py
def translate_app(app: App, settings: DockerSettings) -> list[Resource]:
    net = naming.network_name(app.name, settings.network)
    net_key = f"{naming.KIND_NETWORK}/{net}"
    out: list[Resource] = [
        Resource(naming.KIND_NETWORK, net, {"name": net, "driver": "bridge"})
    ]
    for vol in sorted(app.manifest.volumes):
        # the local driver has no size limit; `size` matters on targets with block storage
        spec = {"name": naming.volume_name(app.name, vol), "driver": "local"}
        out.append(Resource(naming.KIND_VOLUME, vol, spec, stateful=True))
    proxies = _proxies(app, settings, net)
    out += [r for r in proxies.values()]
    replicas_of = {name: svc.replicas for name, svc in app.services.items()}
    for name in sorted(app.services):
        svc = app.services[name]
        template = _container_template(app, name, svc, settings, net)
        deps = [net_key]
        deps += [f"{naming.KIND_VOLUME}/{m.volume}" for m in svc.volumes]
        # no dependency on the service's front proxy: a replica starts beside it, not after it,
        # and whichever is ready second routes (apply_proxy routes healthy replicas, a replica's
        # route finds the proxy), both under the service's routing lock; the proxy's start is
        # then off the deploy's critical path, and destroy removes proxy and replicas at once
        for dep in svc.depends_on:
            deps += [f"{naming.KIND_CONTAINER}/{naming.replica_resource(dep, i)}" for i in range(1, replicas_of[dep] + 1)]
        for i in range(1, svc.replicas + 1):
            spec = dict(template, replica=i)
            out.append(
                Resource(naming.KIND_CONTAINER, naming.replica_resource(name, i), spec, tuple(sorted(set(deps))), service=name)
            )
    return out


def _proxies(app: App, settings: DockerSettings, net: str) -> dict[int, Resource]:
    """One front proxy per public http port, owning the published host port."""
    out: dict[int, Resource] = {}
    claimed: dict[int, str] = {}
    for name in sorted(app.services):
        svc = app.services[name]
        for i, port in enumerate(svc.ports):
            if port.expose != "public":
                continue
            where = f"services.{name}.ports[{i}]"
            key = port.public_port
            if key in claimed:
                raise InputError(f"{where}: host port {key} is already published by {claimed[key]}")
            claimed[key] = where
            if not _via_proxy(port, settings):
                if svc.replicas > 1:
                    raise InputError(
                        f"{where}: {svc.replicas} replicas cannot all bind host port {key} on one Docker host",
                        hint="use replicas: 1, or protocol: http with the target's front proxy enabled",
                    )
                continue
            spec = {
                "image": settings.proxy_image,
                "published": key,
                "bind": settings.bind_address,
                "network": net,
                "service": name,
                "container_port": PROXY_CONTAINER_PORT,
            }
            res = Resource(naming.KIND_PROXY, naming.proxy_resource(key), spec, (f"{naming.KIND_NETWORK}/{net}",), service=name)
            out[key] = res
    return out


def _via_proxy(port: Port, settings: DockerSettings) -> bool:
    return settings.proxy and port.protocol == "http" and port.expose == "public"


def _container_template(app: App, name: str, svc: Service, settings: DockerSettings, net: str) -> dict[str, Any]:
    labels = {**app.labels, **svc.labels}
    spec: dict[str, Any] = {
        "image": _image(app, name, svc),
        "build": _build(app, svc),
        "entrypoint": svc.command,
        "command": svc.args,
        "env": dict(sorted(svc.env.items())),
        "secrets": [_secret(app, ref.name, ref.mount_path) for ref in svc.secrets],
        "files": [{"path": f.path, "content": f.content, "mode": f.mode} for f in svc.files],
        "ports": [
            {
                "port": p.port,
                "protocol": p.protocol,
                "expose": p.expose,
                "published": p.public_port if p.expose == "public" else None,
                "via": ("proxy" if _via_proxy(p, settings) else "direct") if p.expose == "public" else None,
            }
            for p in svc.ports
        ],
        "health": health_spec(svc.health),
        "proxy_health_path": _proxy_health_path(svc),
        "restart": svc.restart,
        "cpus": svc.resources.cpu_cores,
        "memory": svc.resources.memory_bytes,
        "user": svc.user,
        **({"working_dir": svc.working_dir} if svc.working_dir else {}),
        "stop_grace_s": svc.stop_grace_s,
        "labels": labels,
        "volumes": [
            {"name": naming.volume_name(app.name, m.volume), "path": m.path, "read_only": m.read_only} for m in svc.volumes
        ],
        "network": net,
        "aliases": [name],
        "security": runtime_security(svc),
    }
    return spec


def _image(app: App, name: str, svc: Service) -> str:
    if svc.image:
        return svc.image
    assert svc.build is not None  # the model requires image or build
    digest = context_hash(app.base_dir / svc.build.context, svc.build.dockerfile, svc.build.args, svc.build.target)
    return naming.build_tag(app.name, name, digest)


def _build(app: App, svc: Service) -> dict[str, Any] | None:
    if svc.image or svc.build is None:
        return None
    stage = {"target": svc.build.target} if svc.build.target else {}  # absent when unset: earlier specs stay equal
    return {"context": svc.build.context, "dockerfile": svc.build.dockerfile, "args": dict(svc.build.args), **stage}


def _secret(app: App, name: str, path: str) -> dict[str, Any]:
    try:
        digest = app.secret_digest(name)
    except InputError:
        digest = "unresolved"  # deploy stops earlier on a missing secret; plan and render still work
    return {"name": name, "path": path, "digest": digest}


def _proxy_health_path(svc: Service) -> str:
    if svc.health and svc.health.http:
        return svc.health.http.path
    return "/"


def health_spec(health: Health | None) -> dict[str, Any] | None:
    """The engine HEALTHCHECK for a manifest health check (None keeps the image's own)."""
    if health is None:
        return None
    if health.http:
        url = f"http://127.0.0.1:{health.http.port}{health.http.path}"
        test = [
            "CMD-SHELL",
            f"if command -v wget >/dev/null 2>&1; then wget -q -O /dev/null '{url}'; "
            f"else curl -fsS -o /dev/null '{url}'; fi",
        ]
    elif health.tcp:
        test = ["CMD-SHELL", f"nc -z 127.0.0.1 {health.tcp.port}"]
    else:
        assert health.exec is not None
        test = ["CMD", *health.exec.command]
    return {
        "test": test,
        "interval_s": health.interval_s,
        "timeout_s": health.timeout_s,
        "retries": health.retries,
        "start_period_s": health.start_period_s,
    }
