"""Reads back what the engine holds for an app: observe (for plans) and status (for people).

Everything is found by the `io.portable.app` label, one list call per kind; observed.py reads
the answers (kind, name and revision from the labels written at creation).
"""
from __future__ import annotations

from typing import Any

import docker

from portable.manifest.app import App
from portable.plan.resources import InstanceStatus, Observed, ServiceStatus

from portable.providers.docker import health_probe, naming
from portable.providers.docker.engine import retried
from portable.providers.docker.observed import observed_from


def observe_app(client: docker.DockerClient, app: str) -> list[Observed]:
    filters = naming.app_filter(app)
    nets = retried(f"listing networks of {app}", lambda: client.api.networks(filters=filters))
    vols = retried(f"listing volumes of {app}", lambda: client.api.volumes(filters=filters))
    found = retried(f"listing containers of {app}", lambda: client.api.containers(all=True, filters=filters))
    return observed_from(nets, vols, found)


def _summaries(client: docker.DockerClient, app: str) -> list[dict[str, Any]]:
    filters = {"label": [f"{naming.LABEL_APP}={app}", f"{naming.LABEL_KIND}={naming.KIND_CONTAINER}"]}
    return retried(f"listing containers of {app}", lambda: client.api.containers(all=True, filters=filters))  # type: ignore[no-any-return]


def status_of(client: docker.DockerClient, app: App, host: str) -> list[ServiceStatus]:
    by_service: dict[str, list[InstanceStatus]] = {name: [] for name in app.services}
    for c in sorted(_summaries(client, app.name), key=lambda c: str(c["Names"][0])):
        labels = c.get("Labels") or {}
        service = labels.get(naming.LABEL_SERVICE, "")
        data = retried("inspecting a container", lambda cid=c["Id"]: client.api.inspect_container(cid))
        state = data["State"]
        healthy = health_probe.verdict(client, data)  # "starting" but answering its check is healthy, as deploy saw it
        nets = data["NetworkSettings"].get("Networks") or {}
        address = next((n.get("IPAddress") for n in nets.values() if n.get("IPAddress")), None)
        by_service.setdefault(service, []).append(
            InstanceStatus(str(c["Names"][0]).lstrip("/"), str(state.get("Status")), healthy, address, labels.get(naming.LABEL_REVISION))
        )
    out: list[ServiceStatus] = []
    for name in sorted(by_service):
        svc = app.services.get(name)
        instances = by_service[name]
        running = [i for i in instances if i.state == "running"]
        endpoints = []
        if svc is not None:
            for p in svc.ports:
                if p.expose == "public":
                    scheme = "http" if p.protocol == "http" else p.protocol
                    endpoints.append(f"{scheme}://{host}:{p.public_port}")
                elif p.expose == "internal":
                    endpoints.append(f"{name}:{p.port} (app network)")
        out.append(ServiceStatus(
            service=name,
            desired=svc.replicas if svc is not None else 0,
            running=len(running),
            healthy=sum(1 for i in running if i.healthy is not False),
            endpoints=tuple(endpoints),
            instances=tuple(instances),
        ))
    return out
