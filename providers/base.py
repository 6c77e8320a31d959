"""The provider contract: what every target implements, the roles some targets add, and the
capabilities that announce them.

A provider turns an App into Resources (pure `translate`), finds what is its own on the
target (`observe`, by the app's labels/tags), carries out one plan Action at a time
(`apply`, which waits until the change is healthy or raises), and reports `status` and
`logs`. SDK exceptions are mapped to portable.errors at this boundary, once, by type.

Beyond that core, a provider may play roles (`DataSource`, `DataDestination`,
`ImageSource`, `ImageMover`; DNS cutover is a `DnsProvider`, see providers/registry.py).
Each role is announced by a `Capability` in `capabilities` and reached through `role()`,
which checks the capability and names the target and the flag or field that needs it:
nothing in the core probes a provider with `getattr`. Capabilities are checked once,
while planning, before anything changes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from portable.errors import Cancelled, CapabilityError, ManifestError, Problem
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
    LOGS = "logs"  # `portable logs`
    # roles (see the protocols below)
    EXPORT_VOLUMES = "export_volumes"  # DataSource: read a volume out as a tar stream
    QUIESCE = "quiesce"  # DataSource: stop and restart the services that write to volumes
    RESTORE_VOLUMES = "restore_volumes"  # DataDestination: write an archive into a volume through the API
    RESTORE_AT_BOOT = "restore_at_boot"  # DataDestination: translate() carries app.restores (init container, first boot)
    RESTORE_FED = "restore_fed"  # with RESTORE_AT_BOOT: the first start waits while the deploy hands over archives portable opened (no URL, key or plaintext copy on the target)
    RESTORE_RUNNING = "restore_running"  # DataDestination: restore_volume into the deployed app, its writers stopped by the target (`portable restore`)
    EXPORT_IMAGES = "export_images"  # ImageSource: hand out an image as a `docker save` stream
    IMPORT_IMAGES = "import_images"  # ImageMover: load images the target lacks from an ImageSource
    DATA_CHANNEL = "data_channel"  # DataChannel: the data roles go through a channel of their own (SSH), checked while planning
    LIST_OWNED = "list_owned"  # OwnedLister: lists every object portable's marks put on the target, of any app (`portable gc`)
    EXEC = "exec"  # Executor: runs a command inside a running replica of a service (`portable exec`)


# what each capability lets a user do, for "target X cannot <this>" messages
CAPABILITY_WORDS: dict[Capability, str] = {
    Capability.BUILD: "build images (`build:`)",
    Capability.VOLUMES: "provide persistent volumes",
    Capability.PUBLIC_HTTP: "publish http ports",
    Capability.PUBLIC_TCP: "publish tcp/udp ports",
    Capability.LOAD_BALANCER: "put several replicas behind one public address",
    Capability.AUTOSCALE: "autoscale",
    Capability.LOGS: "read the services' logs",
    Capability.EXPORT_VOLUMES: "export volume data",
    Capability.QUIESCE: "stop its writers (--quiesce)",
    Capability.RESTORE_VOLUMES: "restore volume data in place",
    Capability.RESTORE_AT_BOOT: "restore volume data at first start",
    Capability.RESTORE_FED: "take volume data handed over during its deploy",
    Capability.RESTORE_RUNNING: "restore volume data into the deployed app",
    Capability.EXPORT_IMAGES: "hand out its images",
    Capability.IMPORT_IMAGES: "load images from another target",
    Capability.DATA_CHANNEL: "check the channel its volume data is read through",
    Capability.LIST_OWNED: "list what portable left on it (`portable gc`)",
    Capability.EXEC: "run a command inside a service's replica",
}


def _quiet(message: str) -> None:
    return None


@dataclass(frozen=True)
class ApplyContext:
    """What `apply` may use besides the action: the app (for secrets), a progress sink and
    the per-run options a user gave on the command line (never read from os.environ)."""

    app: App
    progress: Progress = _quiet
    timeout: float = 300.0
    previous: list[Resource] = field(default_factory=list)  # resources of the last good revision
    parallelism: int = 4
    force_conflicts: bool = False  # kubernetes: take over fields another field manager owns
    # set when the run is abandoned (Ctrl-C, a failure elsewhere): wait loops stop at once (`ctx.pause`)
    cancelled: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    def pause(self, seconds: float) -> None:
        """Sleeps `seconds` in a wait loop, or raises Cancelled as soon as the run is abandoned."""
        if self.cancelled.wait(max(0.0, seconds)):
            raise Cancelled("the run was interrupted")


@runtime_checkable
class Provider(Protocol):
    """Implemented by every target (docker, kubernetes, aws, libcloud, vsphere)."""

    name: ClassVar[str]
    refusals: ClassVar[dict[Capability, tuple[str, str | None]]]
    # actions applied at once unless --parallelism says otherwise: what the target's API bears
    default_parallelism: ClassVar[int]
    # managed field (or REMOVED) -> what probably changed it outside portable: "kubectl scale?"
    drift_hints: ClassVar[Mapping[str, str]]

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

    def managed_fields(self, resource: Resource) -> Mapping[str, Any]:
        """The values the fields portable manages (replicas, image, env, state, ...) should
        have for `resource`, in the shape `observe` reports as `Observed.live`: pure, no I/O.
        A difference is drift (portable/plan/drift.py); {} for kinds with nothing to compare."""
        ...

    def status(self, app: App) -> list[ServiceStatus]: ...

    def logs(self, app: App, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]: ...

    def render(self, app: App, resources: list[Resource], outdir: Path) -> list[Path]:
        """Writes what would be created (plain files the target's own tools accept)."""
        ...

    def plan_warnings(self, app: App) -> list[str]:
        """Manifest fields this target will not honour as written, each naming its field."""
        ...

    def unmet_settings(self, app: App) -> list[Problem]:
        """Pure, no I/O: what `app` asks that this target's settings refuse (e.g. secrets with no
        channel but the VM's metadata), each a Problem at the manifest field that asks; checked
        with the capabilities by `validate -t`, `plan`, `deploy` and `migrate` (not `render`)."""
        ...

    def preflight(self, app: App) -> None:
        """Read-only, while planning: resolves every input the apply will need (variables and
        files it reads, registry credentials, image ids, zones, key pairs) and raises
        `settings_error` (exit 2, the field path) for the first one that is wrong, so bad
        input fails before anything is created. Target errors (auth, unreachable) pass as they are."""
        ...


# ------------------------------------------------------------------ roles
@runtime_checkable
class DataSource(Protocol):
    """EXPORT_VOLUMES: a migration or backup can read this target's volumes."""

    def export_volume(self, app: App, volume: str) -> tuple[Iterator[bytes], str]:
        """A tar stream of the volume's files and the path prefix its members carry."""
        ...


@runtime_checkable
class Quiescer(Protocol):
    """QUIESCE: the services that write to volumes can be stopped for a consistent copy."""

    def quiesce(self, app: App) -> list[str]:
        """Stops the services that write to volumes; returns what was stopped."""
        ...

    def resume(self, app: App) -> list[str]:
        """Starts again what `quiesce` stopped."""
        ...


@runtime_checkable
class DataDestination(Protocol):
    """RESTORE_VOLUMES: an archive is written into a volume through the target's API.

    Targets that restore from inside (a Kubernetes init container, a VM's first boot)
    declare RESTORE_AT_BOOT instead: their `translate` carries `app.restores`. Such a target
    may still write into the volumes of the app once deployed (`portable restore`): it then
    declares RESTORE_RUNNING, and its `restore_volume` stops and restarts the volume's
    writers itself (a helper pod with the writers scaled down, guest operations in a VM)."""

    def restore_volume(self, app: App, volume: str, archive: Path, progress: Progress, *, sha256: str | None = None, replace: bool = False, delta: bool = False) -> None: ...


@runtime_checkable
class ImageSource(Protocol):
    """EXPORT_IMAGES: images held by this target, as `docker save` streams."""

    def image_stream(self, ref: str) -> Iterator[bytes] | None:
        """The image `ref` as a `docker save` tar stream, or None when this target lacks it."""
        ...


@runtime_checkable
class ImageMover(Protocol):
    """IMPORT_IMAGES: loads the images the app needs that this target lacks."""

    def import_images(self, app: App, source: ImageSource | None, progress: Progress) -> list[str]:
        """Copies what `source` holds and this target lacks; returns the refs copied."""
        ...


@runtime_checkable
class DnsProvider(Protocol):
    """Points a DNS record at an endpoint (migration cutover). Opened by providers.registry.dns_provider."""

    def point(self, record: str, zone: str, target: str, *, ttl: int = 60) -> str:
        """Makes `record` resolve to `target` (an IP: A; a host name: CNAME or alias); one line saying what was done."""
        ...


@runtime_checkable
class DataChannel(Protocol):
    """DATA_CHANNEL: the data roles reach the data through a channel of their own (SSH to a
    cloud's instances), which can fail while the target's API answers. It is checked while
    planning a migration or a backup, so a source without its channel fails before anything
    changes on either side."""

    def check_data_channel(self, app: App, *, quiesce: bool) -> str:
        """Reaches every instance the export (and, with `quiesce`, the quiesce) would use;
        raises InputError naming the setting to fix; returns one line saying what answered."""
        ...


@dataclass(frozen=True)
class OwnedObject:
    """One object on a target whose ownership marks (labels, tags, names, custom attributes)
    say portable made it for `app`: what `portable gc` lists, judges and may delete."""

    kind: str  # the target's own word: container, Deployment, instance, security-group, VM
    name: str  # what the target's own tools call it
    app: str  # the app its marks name
    resource: str | None  # key ("kind/name") of the Resource it realises, as translate names it; None: not one
    service: str | None = None
    target: str | None = None  # the target its marks name; None where the provider marks no target
    created: datetime | None = None
    stateful: bool = False  # holds user data: deleted only with --volumes
    labels: Mapping[str, str] = field(default_factory=dict)  # the marks, for display
    ref: Mapping[str, Any] = field(default_factory=dict)  # ids delete_owned needs
    order: int = 0  # deletion order, lowest first: instances before the groups and networks they use
    leftover: str | None = None  # the provider's reason it is garbage though its resource is described (a killed update's second copy)


@runtime_checkable
class OwnedLister(Protocol):
    """LIST_OWNED: every object carrying portable's marks, whatever app they name, and a way to
    delete one. `portable gc` decides which are garbage (portable/gc.py); the provider only
    reads marks and deletes by id."""

    def list_owned(self, app: App) -> list[OwnedObject]:
        """Every object with portable's marks reachable through this target's settings; `app`
        (the manifest's, bound to the target) only opens the connection."""
        ...

    def delete_owned(self, obj: OwnedObject, ctx: ApplyContext) -> None:
        """Deletes `obj` (already gone is fine); waits, bounded by ctx.timeout, for what must
        finish first (an instance's termination before its security group)."""
        ...


@runtime_checkable
class Executor(Protocol):
    """EXEC: `portable exec` runs a command inside one running replica of a service, its
    output streamed as it comes, and reports the command's exit code."""

    def exec_in(self, app: App, service: str, replica: int, command: list[str], io: ExecIO) -> int:
        """Runs `command` in replica `replica` (1-based) of `service`; returns its exit code.
        Raises InputError when the service has no such running replica."""
        ...


@dataclass(frozen=True)
class ExecIO:
    """Where an exec's streams go: `out`/`err` receive bytes as they arrive; `stdin` (a
    binary file, or None) is copied to the command; `tty` asks for a terminal."""

    out: Callable[[bytes], None]
    err: Callable[[bytes], None]
    stdin: Any = None
    tty: bool = False


def check_data_channel(provider: Provider, app: App, needed_by: str, *, quiesce: bool = False) -> str | None:
    """Checks the data channel of a source whose data roles have one; None for the others."""
    if Capability.DATA_CHANNEL not in provider.capabilities:
        return None
    return role(provider, DataChannel, Capability.DATA_CHANNEL, app.target_name, needed_by).check_data_channel(app, quiesce=quiesce)


ROLES: dict[Capability, type] = {
    Capability.EXPORT_VOLUMES: DataSource,
    Capability.QUIESCE: Quiescer,
    Capability.RESTORE_VOLUMES: DataDestination,
    Capability.RESTORE_RUNNING: DataDestination,
    Capability.EXPORT_IMAGES: ImageSource,
    Capability.IMPORT_IMAGES: ImageMover,
    Capability.DATA_CHANNEL: DataChannel,
    Capability.LIST_OWNED: OwnedLister,
    Capability.EXEC: Executor,
}


def cannot(provider: Provider, target: str, capability: Capability, needed_by: str = "") -> CapabilityError:
    """The one sentence for a missing capability: which target, what it cannot do, who asked.

    A provider may word its own refusal and hint (`refusals`), e.g. vSphere saying where
    logs are instead."""
    why = f"; {needed_by} needs it" if needed_by else ""
    own = provider.refusals.get(capability)
    words, hint = own if own else (f"cannot {CAPABILITY_WORDS[capability]}", None)
    return CapabilityError(f"target `{target}` ({provider.name}) {words}{why}", hint=hint)


def require(provider: Provider, target: str, capability: Capability, needed_by: str = "") -> None:
    """Raises CapabilityError unless `provider` declares `capability`."""
    if capability not in provider.capabilities:
        raise cannot(provider, target, capability, needed_by)


R = TypeVar("R")


def role(provider: Provider, role_type: type[R], capability: Capability, target: str, needed_by: str = "") -> R:
    """`provider` as `role_type`, after checking it declares `capability`.

    A provider that declares a capability but does not implement its role is a bug in the
    provider, said as such (the contract suite catches it)."""
    require(provider, target, capability, needed_by)
    if not isinstance(provider, role_type):
        raise TypeError(f"provider {provider.name} declares {capability.value} but does not implement {role_type.__name__}")
    return provider


class BaseProvider:
    """Shared defaults. Subclasses set `name` and `base_capabilities` and the real methods."""

    name: ClassVar[str] = ""
    base_capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # capability -> (the words after "target `x` (provider)", a hint): a provider's own refusal
    refusals: ClassVar[dict[Capability, tuple[str, str | None]]] = {}
    default_parallelism: ClassVar[int] = 4  # cloud APIs rate-limit; engines and clusters raise it
    drift_hints: ClassVar[Mapping[str, str]] = {}

    def __init__(self, target_name: str, settings: Any) -> None:
        self.target_name = target_name
        self.settings = settings

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.base_capabilities

    def needs_replace(self, observed: Observed, desired: Resource) -> bool:
        return False

    def managed_fields(self, resource: Resource) -> Mapping[str, Any]:
        return {}

    def plan_warnings(self, app: App) -> list[str]:
        return []

    def unmet_settings(self, app: App) -> list[Problem]:
        return []

    def preflight(self, app: App) -> None:
        """Nothing to check beyond what translate sees (targets whose apply reads no input)."""
        return None

    def render(self, app: App, resources: list[Resource], outdir: Path) -> list[Path]:
        import json

        outdir.mkdir(parents=True, exist_ok=True)
        out = outdir / f"{app.name}.{self.name}.json"
        out.write_text(json.dumps([r.to_dict() for r in resources], indent=2, sort_keys=True) + "\n")
        return [out]


def settings_error(app: App, field: str, message: str, hint: str | None = None) -> ManifestError:
    """The error of a preflight check: `targets.<target>.<field>: <message>`, located in the
    manifest by the session (file:line:column of the field)."""
    return ManifestError([Problem(f"targets.{app.target_name}.{field}", message, hint=hint)])


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
