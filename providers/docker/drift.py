"""The fields of a Docker object portable manages, for drift (portable/plan/drift.py).

Read from the container list `observe` already makes (no inspect per container): whether
the container runs. A replica of a service that restarts `always` (or `unless-stopped`), or
a front proxy, should be running; `docker stop`, `docker pause` or `docker kill` leave it
`exited` or `paused` with its digest label intact, and `docker rm` leaves nothing (the
core reports that as removed). Containers only created or being removed are a run's
leftovers, not drift: their digest is not trusted and deploy replaces them anyway.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portable.plan.drift import REMOVED
from portable.plan.resources import Resource

from portable.providers.docker import naming

HINTS: Mapping[str, str] = {"state": "docker stop?", REMOVED: "docker rm?"}

#: States a user's command leaves a container in; others are a run's own (created, dead, removing).
USER_STATES = ("running", "exited", "paused", "restarting")
KEEP_RUNNING = ("always", "unless-stopped")


def live_of(kind: str | None, state: str | None) -> dict[str, Any]:
    """What the container list says of a replica or proxy container."""
    if kind in (naming.KIND_CONTAINER, naming.KIND_PROXY) and state in USER_STATES:
        return {"state": "running" if state == "restarting" else state}
    return {}


def managed_of(resource: Resource) -> dict[str, Any]:
    """A proxy, and a replica that restarts always, should be running."""
    if resource.kind == naming.KIND_PROXY or (resource.kind == naming.KIND_CONTAINER and resource.spec.get("restart") in KEEP_RUNNING):
        return {"state": "running"}
    return {}
