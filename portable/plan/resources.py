"""What providers produce and observe: desired `Resource`s and `Observed` ones.

A Resource's spec is plain JSON data with no secret values (secrets travel by name and are
resolved at apply time), so it can be printed in plans, stored in state and hashed.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def spec_digest(kind: str, name: str, spec: Mapping[str, Any]) -> str:
    """The hash recorded on the target (label/tag) to tell whether a resource is up to date."""
    return hashlib.sha256(canonical_json([kind, name, spec]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Resource:
    """One object a provider creates for an app, as it should be."""

    kind: str  # provider vocabulary: "network", "service", "Deployment", "instance-group", ...
    name: str  # unique within (app, kind)
    spec: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()  # keys ("kind/name") of resources to apply first
    service: str | None = None  # the manifest service it belongs to, if any
    stateful: bool = False  # holds user data: never deleted unless the user asks (--volumes)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    @cached_property
    def digest(self) -> str:
        return spec_digest(self.kind, self.name, self.spec)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "spec": self.spec,
            "depends_on": list(self.depends_on),
            "service": self.service,
            "stateful": self.stateful,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Resource":
        return cls(
            kind=data["kind"],
            name=data["name"],
            spec=data["spec"],
            depends_on=tuple(data.get("depends_on", ())),
            service=data.get("service"),
            stateful=bool(data.get("stateful", False)),
        )


@dataclass(frozen=True)
class Observed:
    """One object found on the target that carries this app's labels or tags."""

    kind: str
    name: str
    digest: str | None  # the desired digest it was created from (read back from a label/tag)
    stateful: bool = False
    service: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)  # ids, status: for display and apply
    # live values of the fields the provider manages (replicas, image, env, state, ...), in the
    # shape of Provider.managed_fields: compared with the deployed spec to find drift (drift.py)
    live: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class InstanceStatus:
    """One running unit of a service: a container, a pod, a VM."""

    name: str
    state: str  # running | starting | exited | pending | ...
    healthy: bool | None  # None when the service has no health check
    address: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class ServiceStatus:
    """What `portable status` shows for one service."""

    service: str
    desired: int
    running: int
    healthy: int
    endpoints: tuple[str, ...] = ()
    instances: tuple[InstanceStatus, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "desired": self.desired,
            "running": self.running,
            "healthy": self.healthy,
            "endpoints": list(self.endpoints),
            "instances": [i.__dict__ for i in self.instances],
        }


@dataclass(frozen=True)
class LogLine:
    """One line of a service's output, prefixed for the user by service and replica."""

    service: str
    instance: str
    text: str
