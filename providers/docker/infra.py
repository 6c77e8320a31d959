"""Apply for the app's shared objects: its network, its named volumes and its front proxies.

Networks and volumes are immutable on the engine (labels included); their specs hold only
what cannot change without a new name, so an "update" of them only happens if someone
relabelled them by hand, and is answered with a clear error rather than data loss.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import docker

from portable.engine import cancel

from portable.errors import TargetError
from portable.manifest.app import App
from portable.plan.plan import Action
from portable.plan.resources import Resource

from portable.providers.docker import naming, proxy, replicas
from portable.providers.docker.engine import created_once, engine_call, retried
from portable.providers.docker.images import ensure_image

Progress = Callable[[str], None]
ENDPOINT_POLL_S = 0.2  # between tries of a network removal the engine refused for endpoints not yet released
ENDPOINTS_RELEASED_S = 20.0  # how long the engine gets to release them
STALE_AFTER_S = 5.0  # refused that long after the network lists no container: the engine's count is stale


def _labels(app: App, res: Resource, target: str) -> dict[str, str]:
    return {
        naming.LABEL_APP: app.name,
        naming.LABEL_KIND: res.kind,
        naming.LABEL_RESOURCE: res.name,
        naming.LABEL_REVISION: res.digest,
        naming.LABEL_TARGET: target,
    }


def apply_network(client: docker.DockerClient, app: App, action: Action, target: str, progress: Progress) -> None:
    if action.op == "delete":
        assert action.observed is not None
        nid = action.observed.info.get("id", action.observed.name)
        progress(f"removing network {action.observed.name}")
        remove_network(client, nid, action.observed.name)
        return
    res = action.desired
    assert res is not None
    if action.op != "create":
        raise TargetError(
            f"network {res.name} exists with other settings than portable gave it",
            hint=f"remove it (docker network rm {res.name}) after stopping what uses it, then deploy again",
        )
    progress(f"creating network {res.spec['name']}")
    net = res.spec["name"]
    created_once(
        f"creating network {net}",
        lambda: client.api.create_network(net, driver=res.spec["driver"], labels=_labels(app, res, target), check_duplicate=True),
        lambda: next((n for n in client.api.networks(names=[net]) if n["Name"] == net), None),
    )


def remove_network(client: docker.DockerClient, nid: str, name: str) -> None:
    """Removes the network as soon as the engine has released its endpoints.

    The engine releases a removed container's endpoint a moment after the removal returns; with
    many removals at once the network can still see one. The removal is tried again every
    ENDPOINT_POLL_S until it goes (not after a backoff: an idle engine frees them in well under
    a second), for up to ENDPOINTS_RELEASED_S, or STALE_AFTER_S once the network lists no
    container: Docker 20.10 under load can keep a count of endpoints that nothing holds (only
    a daemon restart clears it), and waiting longer for it only delays the error."""
    deadline = time.monotonic() + ENDPOINTS_RELEASED_S
    empty_since: float | None = None

    def remove() -> bool:
        try:
            client.api.remove_network(nid)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "active endpoints" in str(exc.explanation or exc):
                return False
            raise
        return True

    def containers_held() -> Any:
        try:
            return client.api.inspect_network(nid).get("Containers") or {}
        except docker.errors.NotFound:
            return None  # gone after all

    while not retried(f"removing network {name}", remove):
        held = retried(f"inspecting network {name}", containers_held)
        if held is None:
            return
        empty_since = None if held else (empty_since or time.monotonic())
        if time.monotonic() > deadline or (empty_since is not None and time.monotonic() - empty_since > STALE_AFTER_S):
            raise TargetError(f"network {name} still has endpoints of removed containers (the engine refused its removal for "
                              f"{time.monotonic() - deadline + ENDPOINTS_RELEASED_S:.0f}s)",
                              hint=f"see them with `docker network inspect {name}`; an engine that keeps a stale one frees it on restart")
        cancel.pause(ENDPOINT_POLL_S)


def apply_volume(client: docker.DockerClient, app: App, action: Action, target: str, progress: Progress) -> None:
    if action.op == "delete":
        assert action.observed is not None
        vname = action.observed.info.get("volume", action.observed.name)
        progress(f"removing volume {vname} and its data")

        def remove() -> None:
            try:
                client.api.remove_volume(vname, force=False)
            except docker.errors.NotFound:
                pass

        retried(f"removing volume {vname}", remove)
        return
    res = action.desired
    assert res is not None
    if action.op != "create":
        raise TargetError(f"volume {res.spec['name']} exists with other labels than portable gave it",
                          hint="portable never recreates a volume (it holds data); relabel or remove it yourself")
    progress(f"creating volume {res.spec['name']}")
    with engine_call(f"creating volume {res.spec['name']}"):
        client.api.create_volume(res.spec["name"], driver=res.spec["driver"], labels=_labels(app, res, target))


def apply_proxy(client: docker.DockerClient, app: App, action: Action, target: str, progress: Progress,
                timeout: float, guard: replicas.RolloutGuard, pull: bool) -> None:
    """Creates/replaces/removes a front proxy; a new proxy is pointed at the healthy replicas."""
    name = naming.container_name(app.name, action.name)
    if action.desired is not None:  # before the old proxy goes: a missing image must not cost the port
        ensure_image(client, app, "front proxy", {"image": action.desired.spec["image"], "build": None}, pull, progress, guard.images)
    existing = _containers_named(client, name)
    service = action.service or ""
    with guard.routing(app.name, service):
        for c in existing:
            progress(f"stopping front proxy {name}")
            replicas.stop_and_remove(client, guard, app.name, c["Id"], name, 2)
        if action.op == "delete":
            return
        res = action.desired
        assert res is not None
        progress(f"starting front proxy {name} on port {res.spec['published']}")
        with guard.gate(app.name).changing():
            proxy.create_proxy(client, app, res, target)
        # only replicas serving this proxy's port: an older replica (another port, or one left
        # by an earlier run) would give it an empty target set; the new ones route when healthy
        published = res.spec["published"]
        if any(published in m.ports for m in replicas.healthy_members(client, app.name, service, set(guard.retiring))):
            replicas.route(client, app, service, None, guard=guard, timeout=timeout)


def _containers_named(client: docker.DockerClient, name: str) -> list[dict[str, Any]]:
    found = retried(f"looking up container {name}", lambda: client.api.containers(all=True, filters={"name": [name]}))
    return [c for c in found if str(c["Names"][0]).lstrip("/") == name]
