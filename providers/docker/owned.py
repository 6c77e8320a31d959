"""`portable gc` on a Docker engine: every container, volume and network carrying the
`io.portable.app` label, whatever app it names, and their removal by id.

The labels written at creation (naming.py) say the app, the target, the resource and the
service, so the core can tell a renamed app's or a removed service's objects from the
current ones without asking anything else of the engine.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import docker

from portable.errors import NotFoundError
from portable.manifest.app import App
from portable.providers.base import ApplyContext, OwnedObject
from portable.providers.docker import naming
from portable.providers.docker.engine import retried

# containers first (they hold the volumes and sit on the network), then volumes, then networks
ORDER = {"container": 0, "volume": 1, "network": 2}


def _time(value: Any) -> datetime | None:
    """The engine's creation time: epoch seconds (containers) or RFC 3339 (volumes, networks)."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # nanoseconds: keep microseconds, keep the offset
        digits = "".join(c for c in rest if c.isdigit())
        offset = rest[len(digits):]
        text = f"{head}.{digits[:6]}{offset}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _owned(kind: str, name: str, labels: dict[str, str], created: Any, ref: dict[str, str], *, stateful: bool = False) -> OwnedObject:
    resource_kind = labels.get(naming.LABEL_KIND, kind)
    resource = labels.get(naming.LABEL_RESOURCE)
    return OwnedObject(
        kind=kind, name=name, app=labels.get(naming.LABEL_APP, ""),
        resource=f"{resource_kind}/{resource}" if resource else None,
        service=labels.get(naming.LABEL_SERVICE) or None, target=labels.get(naming.LABEL_TARGET) or None,
        created=_time(created), stateful=stateful,
        labels={k: v for k, v in labels.items() if k.startswith("io.portable.")}, ref=ref, order=ORDER[kind],
    )


def list_owned(client: docker.DockerClient) -> list[OwnedObject]:
    """Everything on the engine labelled by portable, for any app."""
    filters = {"label": [naming.LABEL_APP]}
    out: list[OwnedObject] = []
    for c in retried("listing portable's containers", lambda: client.api.containers(all=True, filters=filters)):
        labels = c.get("Labels") or {}
        name = str(c["Names"][0]).lstrip("/")
        out.append(_owned("container", name, labels, c.get("Created"), {"id": c["Id"]}))
    vols = retried("listing portable's volumes", lambda: client.api.volumes(filters=filters))
    for v in (vols or {}).get("Volumes") or []:
        out.append(_owned("volume", v["Name"], v.get("Labels") or {}, v.get("CreatedAt"), {"id": v["Name"]}, stateful=True))
    for n in retried("listing portable's networks", lambda: client.api.networks(filters=filters)):
        out.append(_owned("network", n["Name"], n.get("Labels") or {}, n.get("Created"), {"id": n["Id"]}))
    return _mark_replacements(out)


def _mark_replacements(objects: list[OwnedObject]) -> list[OwnedObject]:
    """A `<replica>-next` container beside its `<replica>` is what a killed update left (the
    next deploy looks at it only if that replica changes again). Alone, it is the replica:
    the update was killed after the old one went and before the rename, so it serves."""
    names = {o.name for o in objects if o.kind == "container"}
    out = []
    for o in objects:
        canonical = o.name.removesuffix(naming.NEXT_SUFFIX)
        if o.kind == "container" and o.name.endswith(naming.NEXT_SUFFIX) and canonical in names:
            o = replace(o, leftover=f"a replacement a killed update left beside {canonical}, which serves; no deploy removes it "
                                    "unless that replica changes again")
        out.append(o)
    return out


def delete_owned(client: docker.DockerClient, obj: OwnedObject) -> None:
    """Removes one object by id; one already gone is not an error."""
    ident = str(obj.ref["id"])
    try:
        if obj.kind == "container":
            retried(f"removing container {obj.name}", lambda: client.api.remove_container(ident, force=True, v=False))
        elif obj.kind == "volume":
            retried(f"removing volume {obj.name}", lambda: client.api.remove_volume(ident))
        elif obj.kind == "network":
            retried(f"removing network {obj.name}", lambda: client.api.remove_network(ident))
        else:
            raise ValueError(f"the docker provider does not list {obj.kind} objects")
    except NotFoundError:
        return


class DockerOwned:
    """The OwnedLister role of DockerProvider (LIST_OWNED)."""

    client: docker.DockerClient

    def list_owned(self, app: App) -> list[OwnedObject]:
        return list_owned(self.client)

    def delete_owned(self, obj: OwnedObject, ctx: ApplyContext) -> None:
        delete_owned(self.client, obj)
