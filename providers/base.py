"""The provider contract: what every target implements, and the capabilities it declares.

A provider turns an App into Resources (pure `translate`), finds what is its own on the
target (`observe`, by the app's labels/tags), carries out one plan Action at a time
(`apply`, which waits until the change is healthy or raises), and reports `status` and
`logs`. SDK exceptions are mapped to portable.errors at this boundary, once, by type.
Capabilities are declared, not discovered by a crash: the engine checks them at plan time.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from portable.manifest.app import App
from portable.plan.plan import Action
from portable.plan.resources import LogLine, Observed, Resource, ServiceStatus

Progress = Callable[[str], None]


class Capability(str, Enum):
    """Things a manifest may ask for that not every target can do."""

    BUILD = "build"  # build images from a `build:` context
    VOLUMES = "volumes"  # persistent named volumes
    PUBLIC_HTTP = "public_http"  # publish http ports to users (port, ingress or load balancer)
    PUBLIC_TCP = "public_tcp"  # publish tcp/udp ports
    LOAD_BALANCER = "load_balancer"  # several replicas behind one address
    AUTOSCALE = "autoscale"
    LOGS = "logs"
    DNS = "dns"  # manage a DNS record for a domain
    ZERO_DOWNTIME = "zero_downtime"  # replace replicas while serving


@dataclass(frozen=True)
class ApplyContext:
    """What `apply` may use besides the action: the app (for secrets) and a progress sink."""

    app: App
    progress: Progress = lambda message: None
    timeout: float = 300.0
    previous: list[Resource] = field(default_factory=list)  # resources of the last good revision


@runtime_checkable
class Provider(Protocol):
    """Implemented by every target (docker, kubernetes, aws, libcloud, vsphere)."""

    name: ClassVar[str]

    def __init__(self, target_name: str, settings: Any) -> None: ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    def check(self) -> str:
        """Reaches the target with the configured credentials; returns a one-line description."""
        ...

    def translate(self, app: App) -> list[Resource]:
        """Pure: the resources `app` needs on this target. No I/O, no secret values."""
        ...

    def observe(self, app: App) -> list[Observed]:
        """Everything on the target labelled or tagged as belonging to `app`."""
        ...

    def apply(self, action: Action, ctx: ApplyContext) -> None:
        """Carries out one action and waits until it is healthy; raises a portable error if not."""
        ...

    def needs_replace(self, observed: Observed, desired: Resource) -> bool:
        """True when the change cannot be made in place."""
        ...

    def status(self, app: App) -> list[ServiceStatus]: ...

    def logs(self, app: App, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]: ...

    def render(self, app: App, resources: list[Resource], outdir: Path) -> list[Path]:
        """Writes what would be created (plain files the target's own tools accept)."""
        ...


class BaseProvider:
    """Shared defaults. Subclasses set `name` and `base_capabilities` and the real methods."""

    name: ClassVar[str] = ""
    base_capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, target_name: str, settings: Any) -> None:
        self.target_name = target_name
        self.settings = settings

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.base_capabilities

    def needs_replace(self, observed: Observed, desired: Resource) -> bool:
        return False

    def render(self, app: App, resources: list[Resource], outdir: Path) -> list[Path]:
        import json

        outdir.mkdir(parents=True, exist_ok=True)
        out = outdir / f"{app.name}.{self.name}.json"
        out.write_text(json.dumps([r.to_dict() for r in resources], indent=2, sort_keys=True) + "\n")
        return [out]


def required_capabilities(app: App) -> dict[Capability, str]:
    """What the app asks for, each with the first field path that asks for it."""
    need: dict[Capability, str] = {}
    for name, svc in app.services.items():
        base = f"services.{name}"
        if svc.build is not None and svc.image is None:
            need.setdefault(Capability.BUILD, f"{base}.build")
        if svc.volumes:
            need.setdefault(Capability.VOLUMES, f"{base}.volumes")
        if svc.autoscale:
            need.setdefault(Capability.AUTOSCALE, f"{base}.autoscale")
        for i, port in enumerate(svc.ports):
            if port.expose == "public":
                cap = Capability.PUBLIC_HTTP if port.protocol == "http" else Capability.PUBLIC_TCP
                need.setdefault(cap, f"{base}.ports[{i}]")
                if svc.replicas > 1:
                    need.setdefault(Capability.LOAD_BALANCER, f"{base}.replicas")
    return need
