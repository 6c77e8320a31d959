"""Start-first replacement of one replica, and its retirement, behind the front proxy.

Replacements of one service's replicas go one at a time up to the traffic switch (the engine
may apply them in parallel threads); new and removed replicas need no such wait. A new
container is started beside the old one, must become healthy, is switched into the proxy,
and only then is the old one stopped; the new one then takes the canonical name
`<app>-<service>-<n>`. When the new one fails it is removed and the old one never stopped
serving. Replicas publishing a port directly (tcp/udp, or no proxy) or writing to a volume
cannot run twice side by side, so those are replaced stop-first.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker

from portable.engine.progress import emit
from portable.errors import HealthCheckError
from portable.manifest.app import App
from portable.plan.resources import Resource, spec_digest

from portable.providers.docker import containers, health_probe, naming, proxy
from portable.providers.docker.endpoint_gate import EndpointGate
from portable.providers.docker.engine import retried
from portable.providers.docker.images import ensure_image

Progress = Callable[[str], None]


@dataclass
class RolloutGuard:
    """Coordination between the engine's apply threads for one deploy.

    `rolling(service)` makes replacements of a service's replicas go one at a time (creating
    and removing replicas may run in parallel); `routing(service)` serialises changes to the
    proxy's target set; `retiring` holds containers on their way out, which no target set may
    include; `failures` keeps a revision's first failure so its sibling replicas fail fast;
    `images` the tags found or made on the engine (one inspect per tag, not per replica);
    `attempted` the replicas an apply already began (a retry looks for what it left);
    `routes` the target set this run last gave each proxy's route (the same one is not sent twice);
    `gate(app)` keeps renames apart from starts and stops on the app's network (endpoint_gate.py).
    """

    _guard: threading.Lock = field(default_factory=threading.Lock)
    _locks: dict[str, threading.RLock] = field(default_factory=dict)
    retiring: set[str] = field(default_factory=set)
    failures: dict[str, HealthCheckError] = field(default_factory=dict)
    images: set[str] = field(default_factory=set)
    attempted: set[str] = field(default_factory=set)
    routes: dict[tuple[str, str], tuple[tuple[str, ...], str]] = field(default_factory=dict)
    _gates: dict[str, EndpointGate] = field(default_factory=dict)

    def _lock(self, key: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def gate(self, app: str) -> EndpointGate:
        with self._guard:
            return self._gates.setdefault(app, EndpointGate())

    def rolling(self, app: str, service: str) -> threading.RLock:
        return self._lock(f"rolling:{app}/{service}")

    def routing(self, app: str, service: str) -> threading.RLock:
        return self._lock(f"routing:{app}/{service}")


def _template_key(res: Resource) -> str:
    return spec_digest("template", res.service or "", {k: v for k, v in res.spec.items() if k != "replica"})


def stop_and_remove(client: docker.DockerClient, guard: RolloutGuard, app: str, cid: str, name: str, grace: float | None) -> None:
    """containers.stop_and_remove, kept apart from renames on the app's network (endpoint_gate.py)."""
    with guard.gate(app).changing():
        containers.stop_and_remove(client, cid, name, grace)


def _find(client: docker.DockerClient, app: str, resource: str) -> list[dict[str, Any]]:
    filters = {"label": [f"{naming.LABEL_APP}={app}", f"{naming.LABEL_KIND}={naming.KIND_CONTAINER}",
                         f"{naming.LABEL_RESOURCE}={resource}"]}
    return retried(f"listing containers of {app}/{resource}", lambda: client.api.containers(all=True, filters=filters))  # type: ignore[no-any-return]


def _name(summary: dict[str, Any]) -> str:
    return str(summary["Names"][0]).lstrip("/")


def stop_first_reason(spec: Any) -> str | None:
    """Why this replica cannot run beside its replacement, if it cannot."""
    if any(p["via"] == "direct" for p in spec["ports"]):
        return "it publishes a host port directly"
    if any(not v["read_only"] for v in spec["volumes"]):
        # two processes on one data directory corrupt it or refuse to start (lock files)
        return "it writes to a volume"
    return None


def roll_replica(
    client: docker.DockerClient, app: App, res: Resource, *, target: str, bind_address: str, pull: bool,
    timeout: float, progress: Progress, guard: RolloutGuard, observed_absent: bool = False,
) -> None:
    """Makes replica `res` run its spec, start-first; raises HealthCheckError if the new one fails.

    `observed_absent`: the plan's observation found no container of this replica (not even a
    leftover replacement), so a first attempt need not list them again; a retry does."""
    spec = res.spec
    service = res.service or ""
    canonical = naming.container_name(app.name, res.name)
    earlier = guard.failures.get(_template_key(res))
    if earlier is not None:
        raise HealthCheckError(f"{canonical} not replaced: another replica of this revision failed first ({earlier.message})",
                               details=earlier.details)
    ensure_image(client, app, service, spec, pull, progress, guard.images)
    first_attempt = f"{app.name}/{res.name}" not in guard.attempted
    guard.attempted.add(f"{app.name}/{res.name}")
    current: dict[str, Any] | None = None
    for found in ([] if observed_absent and first_attempt else _find(client, app.name, res.name)):
        if _name(found) == canonical:
            current = found
        else:  # a replacement left behind by an interrupted run
            stop_and_remove(client, guard, app.name, found["Id"], _name(found), 0)
    if current is not None and current["Labels"].get(naming.LABEL_REVISION) == res.digest and current["State"] == "running":
        emit(progress, f"{canonical} already runs this revision", service=service or None, step=f"{canonical} already runs this revision")
        return
    if current is None:  # a new replica: nothing to keep serving, no need to wait for siblings
        _start_replica(client, app, res, canonical, None, target=target, bind_address=bind_address,
                       timeout=timeout, progress=progress, guard=guard)
        return
    # one replacement at a time up to the traffic switch; the old container's graceful stop
    # then overlaps the next replica's start
    with guard.rolling(app.name, service):
        earlier = guard.failures.get(_template_key(res))
        if earlier is not None:
            raise HealthCheckError(f"{canonical} not replaced: another replica of this revision failed first ({earlier.message})",
                                   details=earlier.details)
        stop_first = stop_first_reason(spec)
        if stop_first or current["State"] != "running":
            progress(f"stopping {canonical} first ({stop_first})" if stop_first else f"removing stopped {canonical}")
            _retire(client, app, service, [current], spec["stop_grace_s"], timeout, progress, guard)
            current = None
        cid = _start_replica(client, app, res, canonical, current, target=target, bind_address=bind_address,
                             timeout=timeout, progress=progress, guard=guard)
    if current is not None:
        progress(f"stopping previous {canonical}")
        stop_and_remove(client, guard, app.name, current["Id"], canonical, spec["stop_grace_s"])
        guard.retiring.discard(current["Id"])
        with guard.gate(app.name).renaming():
            retried(f"renaming {canonical}{naming.NEXT_SUFFIX} to {canonical}", lambda: client.api.rename(cid, canonical))


def _start_replica(
    client: docker.DockerClient, app: App, res: Resource, canonical: str, current: dict[str, Any] | None, *,
    target: str, bind_address: str, timeout: float, progress: Progress, guard: RolloutGuard,
) -> str:
    """Starts the new container, waits for health and switches traffic to it (away from `current`).

    Returns the new container's id; the caller stops `current` and renames the new one."""
    spec = res.spec
    service = res.service or ""
    name = canonical + naming.NEXT_SUFFIX if current is not None else canonical
    emit(progress, f"starting {name} ({spec['image']})", service=service or None, step=f"starting {name}")  # the live table's step
    cid = containers.create_replica(client, app, res, name, target, bind_address)
    try:
        with guard.gate(app.name).changing():
            containers.start(client, cid, name)
        data = containers.wait_healthy(client, cid, name, timeout)
        said = f"{name} finished its work (exit 0)" if data["State"].get("Status") == "exited" else f"{name} is healthy"
        emit(progress, said, service=service or None, step=said)
        with guard.routing(app.name, service):
            if current is not None:
                guard.retiring.add(current["Id"])
            try:
                route(client, app, service, spec["proxy_health_path"], guard=guard, timeout=timeout)
            except BaseException:
                if current is not None:
                    guard.retiring.discard(current["Id"])
                raise
    except HealthCheckError as exc:
        guard.failures.setdefault(_template_key(res), exc)
        stop_and_remove(client, guard, app.name, cid, name, 0)
        if current is not None:
            exc.message += f"; {canonical} keeps serving the previous revision"
            exc.args = (exc.message,)
        raise
    except BaseException:
        stop_and_remove(client, guard, app.name, cid, name, 0)
        raise
    return cid


def _retire(client: docker.DockerClient, app: App, service: str, found: list[dict[str, Any]], grace: float | None,
            timeout: float, progress: Progress, guard: RolloutGuard, *, reroute: bool = True) -> None:
    """Out of the proxy first (under the routing lock), then stopped, in parallel with siblings.

    `reroute=False`: nothing of the service is left to serve, so there is no target set to
    move traffic to; the proxy (going too, on a destroy) is not asked first."""
    ids = {c["Id"] for c in found}
    with guard.routing(app.name, service):
        guard.retiring.update(ids)
        try:
            if reroute:
                route(client, app, service, None, guard=guard, timeout=timeout)
        except BaseException:
            guard.retiring.difference_update(ids)
            raise
    for c in found:
        emit(progress, f"stopping {_name(c)}", service=service or None, step=f"stopping {_name(c)}")
        stop_and_remove(client, guard, app.name, c["Id"], _name(c), grace)
    guard.retiring.difference_update(ids)


def retire_replica(client: docker.DockerClient, app: App, resource: str, service: str | None, *,
                   timeout: float, progress: Progress, guard: RolloutGuard) -> None:
    """Takes replica `resource` out of the proxy, then stops and removes its containers.

    The last running replicas of a service (a destroy, or a scale to zero) are not taken out of
    the proxy first: nothing would be left to route to, and on a destroy that exec into the
    proxy (seconds on a loaded engine) delayed the replica's stop and the proxy's own, the
    last two of the teardown; the proxy answers 502 instead of 404 until it goes."""
    # one list of the service's containers answers both questions (a destroy of 20 services ran
    # 40 list calls at once before the first stop, and its stops went out over 0.3 s)
    siblings = _service_containers(client, app.name, service or "")
    found = [c for c in siblings if (c.get("Labels") or {}).get(naming.LABEL_RESOURCE) == resource]
    found = found or _find(client, app.name, resource)  # one without the service label is still removed
    if found:
        leaving = {c["Id"] for c in found} | guard.retiring
        others = any(c.get("State") == "running" and c["Id"] not in leaving for c in siblings)
        _retire(client, app, service or "", found, None, timeout, progress, guard, reroute=others)


def _service_containers(client: docker.DockerClient, app: str, service: str) -> list[dict[str, Any]]:
    """Every container of `service`, running or not, in one list call."""
    filters = {"label": [f"{naming.LABEL_APP}={app}", f"{naming.LABEL_KIND}={naming.KIND_CONTAINER}",
                         f"{naming.LABEL_SERVICE}={service}"]}
    return retried(f"listing replicas of {app}/{service}", lambda: client.api.containers(all=True, filters=filters))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Member:
    """A replica the proxy may send traffic to."""

    host: str  # its own DNS alias (or IP)
    health_path: str
    ports: dict[int, int]  # published host port -> container port


def route(client: docker.DockerClient, app: App, service: str, health_path: str | None, *, guard: RolloutGuard, timeout: float) -> None:
    """Points every front proxy of `service` at its healthy running replicas, minus retiring ones.

    Callers hold the service's routing lock."""
    proxies = proxy.find_proxies(client, app.name, service)
    if not proxies:
        return
    members = healthy_members(client, app.name, service, set(guard.retiring))
    path = health_path or next((m.health_path for m in members), "/")
    for p in proxies:
        published = proxy.published_port(p)
        targets = [f"{m.host}:{m.ports[published]}" for m in members if published in m.ports]
        # a new proxy routes the replicas already healthy, and each of them, healthy first, then
        # routes again: the same set, a second `kamal-proxy deploy` (seconds on a loaded engine)
        wanted = (tuple(sorted(set(targets))), path)
        if guard.routes.get((p["Id"], service)) == wanted:
            continue
        guard.routes.pop((p["Id"], service), None)  # unknown until the proxy answers
        proxy.set_targets(client, p, app.name, service, targets, path, min(timeout, 60.0))
        guard.routes[(p["Id"], service)] = wanted


def healthy_members(client: docker.DockerClient, app: str, service: str, exclude: set[str]) -> list[Member]:
    """The service's running replicas that are healthy (or have no check): the engine says so,
    or says "starting" and their check passes now (health_probe.py)."""
    filters = {"label": [f"{naming.LABEL_APP}={app}", f"{naming.LABEL_KIND}={naming.KIND_CONTAINER}",
                         f"{naming.LABEL_SERVICE}={service}"], "status": ["running"]}
    found = retried(f"listing replicas of {app}/{service}", lambda: client.api.containers(filters=filters))
    out: list[Member] = []
    for summary in found:
        if summary["Id"] in exclude:
            continue
        data = containers.inspect(client, summary["Id"], _name(summary))
        if health_probe.verdict(client, data) is False:  # "starting" counts once its check passes
            continue
        labels = data["Config"]["Labels"] or {}
        # the replica's own DNS alias survives restarts (an IP may not); the IP is the fallback
        host = labels.get(naming.LABEL_UPSTREAM) or containers.ip_address(data, data["HostConfig"]["NetworkMode"])
        ports: dict[int, int] = {}
        for pair in filter(None, labels.get(naming.LABEL_PROXY_PORTS, "").split(",")):
            published, _, container_port = pair.partition(":")
            ports[int(published)] = int(container_port)
        if host:
            out.append(Member(host, labels.get(naming.LABEL_HEALTH_PATH, "/"), ports))
    return out
