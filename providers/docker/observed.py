"""What the engine's three list answers (networks, volumes, containers of one app) say, as
`Observed` objects: the one reading of them, shared by `observe` (through the docker SDK)
and the no-change check (through `reader.py`, without the SDK), so both see the same thing.

Kind, name and revision come from the labels written at creation, so a redeploy with nothing
changed plans nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from portable.plan.resources import Observed

from portable.providers.docker import naming
from portable.providers.docker.drift import live_of

# a container that never ran or is half-removed is not the revision its label claims
BROKEN_STATES = ("created", "dead", "removing")


def observed_from(networks: Iterable[Mapping[str, Any]], volumes: Mapping[str, Any] | None, containers: Iterable[Mapping[str, Any]]) -> list[Observed]:
    """The app's objects from `GET /networks`, `GET /volumes` and `GET /containers/json?all=1`
    answers filtered by its label."""
    out: dict[str, Observed] = {}
    for n in networks:
        labels = n.get("Labels") or {}
        obs = Observed(naming.KIND_NETWORK, labels.get(naming.LABEL_RESOURCE, n["Name"]), labels.get(naming.LABEL_REVISION),
                       info={"id": n["Id"], "network": n["Name"]})
        out[obs.key] = obs
    for v in (volumes or {}).get("Volumes") or []:
        labels = v.get("Labels") or {}
        obs = Observed(naming.KIND_VOLUME, labels.get(naming.LABEL_RESOURCE, v["Name"]), labels.get(naming.LABEL_REVISION),
                       stateful=True, info={"volume": v["Name"]})
        out[obs.key] = obs
    # canonical names first, so a leftover `-next` replacement never hides the replica itself
    for c in sorted(containers, key=lambda c: str(c["Names"][0]).endswith(naming.NEXT_SUFFIX)):
        labels = c.get("Labels") or {}
        kind = labels.get(naming.LABEL_KIND)
        if kind not in (naming.KIND_CONTAINER, naming.KIND_PROXY):
            continue
        name = labels.get(naming.LABEL_RESOURCE, "")
        key = f"{kind}/{name}"
        if key in out:
            continue
        digest = None if c.get("State") in BROKEN_STATES else labels.get(naming.LABEL_REVISION)
        out[key] = Observed(kind, name, digest, service=labels.get(naming.LABEL_SERVICE),
                            info={"id": c["Id"], "container": str(c["Names"][0]).lstrip("/"), "state": c.get("State")},
                            live=live_of(kind, c.get("State")))
    return list(out.values())
