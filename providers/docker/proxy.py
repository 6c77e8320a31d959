"""The front proxy (kamal-proxy) that owns a public http port and switches upstreams.

A host port can be bound by one container only, so a start-first update needs something in
front that keeps the port while replicas come and go. kamal-proxy is driven through
`docker exec ... kamal-proxy deploy`, which health-checks the new target set itself before
switching and drains the old one; it load-balances over every target it is given.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import docker

from portable.engine import cancel
from portable.errors import HealthCheckError, TargetError
from portable.manifest.app import App
from portable.plan.resources import Resource

from portable.providers.docker import naming
from portable.providers.docker.containers import labels_for, start
from portable.providers.docker.engine import engine_call, retried

READY_TIMEOUT_S = 30.0
DRAIN_TIMEOUT = "5s"


def create_proxy(client: docker.DockerClient, app: App, res: Resource, target: str) -> str:
    """Creates and starts the proxy container for `res`; returns its id once it accepts commands."""
    spec = res.spec
    name = naming.container_name(app.name, res.name)
    api = client.api
    host_config = api.create_host_config(
        restart_policy={"Name": "always"},
        port_bindings={f"{spec['container_port']}/tcp": [(spec["bind"], spec["published"])]},
        network_mode=spec["network"],
    )
    with engine_call(f"creating front proxy {name}"):
        created = api.create_container(
            image=spec["image"],
            name=name,
            labels={**labels_for(app, res, target), naming.LABEL_PUBLISHED: str(spec["published"])},
            ports=[spec["container_port"]],
            host_config=host_config,
            # explicit entrypoint: images differ (official: CMD kamal-proxy run; others: ENTRYPOINT)
            entrypoint=["kamal-proxy"],
            command=["run", "--http-port", str(spec["container_port"])],
        )
    cid: str = created["Id"]
    start(client, cid, name)
    _wait_ready(client, cid, name)
    return cid


def _wait_ready(client: docker.DockerClient, cid: str, name: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    output = ""
    while time.monotonic() < deadline:
        code, output = run(client, cid, name, ["kamal-proxy", "list"])
        if code == 0:
            return
        cancel.pause(0.2)
    raise TargetError(f"front proxy {name} did not start accepting commands: {output.strip()}",
                      hint="check the target's proxy_image: it must be a kamal-proxy image")


def run(client: docker.DockerClient, cid: str, name: str, argv: list[str]) -> tuple[int, str]:
    def code_and_output() -> tuple[int, str]:
        exec_id = client.api.exec_create(cid, argv, stdout=True, stderr=True)
        out = client.api.exec_start(exec_id)
        code = client.api.exec_inspect(exec_id).get("ExitCode")
        return int(code if code is not None else 1), out.decode(errors="replace")

    return retried(f"running `{' '.join(argv[:2])}` in front proxy {name}", code_and_output)


def find_proxies(client: docker.DockerClient, app: str, service: str) -> list[dict[str, Any]]:
    """The running proxy containers in front of `service` (summary dicts from the engine)."""
    filters = {"label": [f"{naming.LABEL_APP}={app}", f"{naming.LABEL_KIND}={naming.KIND_PROXY}",
                         f"{naming.LABEL_SERVICE}={service}"], "status": ["running"]}
    return retried(f"listing front proxies of {app}/{service}", lambda: client.api.containers(filters=filters))  # type: ignore[no-any-return]


def set_targets(
    client: docker.DockerClient,
    proxy: dict[str, Any],
    app: str,
    service: str,
    targets: Iterable[str],
    health_path: str,
    timeout: float,
) -> None:
    """Points the proxy's route for `service` at exactly `targets` (host:port), or removes it."""
    cid = proxy["Id"]
    name = proxy["Names"][0].lstrip("/")
    route = naming.proxy_service(app, service)
    wanted = sorted(set(targets))
    if not wanted:
        code, out = run(client, cid, name, ["kamal-proxy", "remove", route])
        if code != 0 and "not found" not in out.lower():
            raise TargetError(f"front proxy {name} could not remove route {route}: {out.strip()}")
        return
    argv = [
        "kamal-proxy", "deploy", route,
        "--target", ",".join(wanted),
        "--health-check-path", health_path,
        "--deploy-timeout", f"{max(int(timeout), 5)}s",
        "--drain-timeout", DRAIN_TIMEOUT,
    ]
    code, out = run(client, cid, name, argv)
    if code != 0:
        raise HealthCheckError(
            f"front proxy {name} did not switch {service} to {', '.join(wanted)}",
            details=f"  kamal-proxy: {out.strip()}",
        )


def published_port(proxy: dict[str, Any]) -> int:
    """The host port this proxy owns (replicas say which of their ports serves it)."""
    labels = proxy.get("Labels") or {}
    if naming.LABEL_PUBLISHED in labels:
        return int(labels[naming.LABEL_PUBLISHED])
    return int(str(labels.get(naming.LABEL_RESOURCE, "")).rsplit("-", 1)[-1])  # proxies made before the label
