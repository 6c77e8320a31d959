"""The `docker` provider: one app on one Docker engine (the built-in `local` target).

Per app: a user-defined network, named volumes, one container per replica named
`<app>-<service>-<n>`, and a kamal-proxy front proxy per public http port that keeps the
port while replicas are replaced start-first. This class only routes the contract's calls
to the modules that do the work; see README.md beside it for the behaviour users see.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import docker

from portable.errors import TargetError
from portable.manifest.app import App
from portable.plan.plan import Action
from portable.plan.resources import LogLine, Observed, Resource, ServiceStatus
from portable.providers.base import ApplyContext, BaseProvider, Capability

from portable.providers.docker import infra, naming, replicas
from portable.providers.docker.data import DockerData
from portable.providers.docker.drift import HINTS, managed_of
from portable.providers.docker.engine import connect, describe_host, engine_call
from portable.providers.docker.exec import DockerExec
from portable.providers.docker.logs import read_logs
from portable.providers.docker.observe import observe_app, status_of
from portable.providers.docker.owned import DockerOwned
from portable.providers.docker.render import render_compose
from portable.providers.docker.settings import DockerSettings
from portable.providers.docker.translate import translate_app


class DockerProvider(DockerOwned, DockerData, DockerExec, BaseProvider):
    """Deploys to a Docker engine: the local socket, DOCKER_HOST, or the target's `host`."""

    name: ClassVar[str] = "docker"
    default_parallelism: ClassVar[int] = 64  # as docker compose: every independent container at once
    drift_hints: ClassVar[Mapping[str, str]] = HINTS
    base_capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.BUILD, Capability.VOLUMES, Capability.PUBLIC_HTTP, Capability.PUBLIC_TCP, Capability.LOGS,
         Capability.EXPORT_VOLUMES, Capability.QUIESCE, Capability.RESTORE_VOLUMES,
         Capability.EXPORT_IMAGES, Capability.IMPORT_IMAGES, Capability.LIST_OWNED, Capability.EXEC}
    )

    def __init__(self, target_name: str, settings: DockerSettings | None = None) -> None:
        super().__init__(target_name, settings if settings is not None else DockerSettings())
        self.settings: DockerSettings
        self._local = threading.local()  # one SDK client per thread: the engine applies in parallel
        self._api_version: str | None = None  # learned by the first client, given to the next ones
        self._guard = replicas.RolloutGuard()

    @property
    def capabilities(self) -> frozenset[Capability]:
        if self.settings.proxy:  # the front proxy load-balances replicas and keeps the port during updates
            return self.base_capabilities | {Capability.LOAD_BALANCER}
        return self.base_capabilities

    @property
    def client(self) -> docker.DockerClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = connect(self.settings, self._api_version)
            self._api_version = client.api.api_version
            self._local.client = client
        return client

    def check(self) -> str:
        with engine_call(f"reaching the Docker engine at {describe_host(self.settings)}"):
            info = self.client.version()
        return f"Docker Engine {info.get('Version')} ({info.get('Os')}/{info.get('Arch')}) at {describe_host(self.settings)}"

    def translate(self, app: App) -> list[Resource]:
        return translate_app(app, self.settings)

    def observe(self, app: App) -> list[Observed]:
        return observe_app(self.client, app.name)

    def managed_fields(self, resource: Resource) -> Mapping[str, Any]:
        """A replica that restarts always, and a proxy, should be running (drift.py)."""
        return managed_of(resource)

    def apply(self, action: Action, ctx: ApplyContext) -> None:
        client, app, progress = self.client, ctx.app, ctx.progress
        if action.kind == naming.KIND_NETWORK:
            infra.apply_network(client, app, action, self.target_name, progress)
        elif action.kind == naming.KIND_VOLUME:
            infra.apply_volume(client, app, action, self.target_name, progress)
        elif action.kind == naming.KIND_PROXY:
            infra.apply_proxy(client, app, action, self.target_name, progress, ctx.timeout, self._guard, self.settings.pull)
        elif action.kind == naming.KIND_CONTAINER:
            if action.op == "delete":
                replicas.retire_replica(client, app, action.name, action.service, timeout=ctx.timeout,
                                        progress=progress, guard=self._guard)
            else:
                assert action.desired is not None
                replicas.roll_replica(
                    client, app, action.desired, target=self.target_name, bind_address=self.settings.bind_address,
                    pull=self.settings.pull, timeout=ctx.timeout, progress=progress, guard=self._guard,
                    observed_absent=action.op == "create" and action.observed is None,
                )
        else:
            raise TargetError(f"the docker provider has no resource kind `{action.kind}` ({action.key})")

    def status(self, app: App) -> list[ServiceStatus]:
        return status_of(self.client, app, self._public_host())

    def logs(self, app: App, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]:
        return read_logs(self.client, app, services, follow=follow, tail=tail)

    def render(self, app: App, resources: list[Resource], outdir: Path) -> list[Path]:
        return render_compose(app, resources, outdir, self.target_name)

    def _public_host(self) -> str:
        """Where users reach published ports: the engine's host name, or this machine."""
        host = describe_host(self.settings)
        if host.startswith(("tcp://", "ssh://", "https://")):
            return urlparse(host).hostname or "127.0.0.1"
        return "127.0.0.1" if self.settings.bind_address in ("0.0.0.0", "::") else self.settings.bind_address
