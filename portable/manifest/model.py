"""The manifest v1 model: what one application is, independent of where it runs.

Pydantic v2 models with unknown keys forbidden, so a typo is an error with a location
rather than a silently ignored setting. Cross-references (depends_on, volumes, secrets)
are checked in `references.py`, where each problem gets its exact field path.
"""
from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from portable.manifest.units import parse_cpu, parse_duration, parse_size

# Patterns given to pydantic run on Rust's regex engine, where `$` is the end of the text;
# Python's `re` must use them with fullmatch (`$` there also accepts a trailing newline).
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# what Kubernetes accepts as an env name (and Docker, compose and cloud-init scripts too)
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# the image reference grammar of the distribution project (docker, containerd, Kubernetes)
_IMAGE_DOMAIN = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?"
_IMAGE_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"(?:(?:{_IMAGE_DOMAIN}|\[[0-9a-fA-F:]+\](?::[0-9]+)?)/)?{_IMAGE_PATH}(?:/{_IMAGE_PATH})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
API_VERSION = "portable/v1"
PROVIDERS = ("docker", "kubernetes", "aws", "libcloud", "vsphere")


def _as_text(value: Any) -> Any:
    """Env values may be written as numbers or booleans in YAML; containers see text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _as_argv(value: Any) -> Any:
    """`command: "sh -c 'x'"` is split like a shell would; a list is kept as written."""
    if isinstance(value, str):
        return shlex.split(value)
    return value


def _check_duration(value: Any) -> Any:
    parse_duration(value)
    return value


def _check_size(value: Any) -> Any:
    parse_size(value)
    return value


def _check_cpu(value: Any) -> Any:
    parse_cpu(value)
    return value


Duration = Annotated[str | int | float, BeforeValidator(_check_duration)]
Size = Annotated[str | int, BeforeValidator(_check_size)]
Cpu = Annotated[str | int | float, BeforeValidator(_check_cpu)]
def _check_positive_size(value: Any) -> Any:
    if parse_size(value) == 0:
        raise ValueError("a size must be greater than 0")
    return value


def _check_label_key(key: str) -> str:
    """Kubernetes' rule for label keys: [DNS subdomain prefix '/'] name of at most 63."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise ValueError(f"label key {key!r}: the prefix before '/' must be a DNS subdomain (lower-case, dots, at most 253 characters)")
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        raise ValueError(f"label key {key!r}: the name must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
    return key


def _check_label_value(value: str) -> str:
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        raise ValueError(f"label value {value!r}: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (or empty)")
    return value


def _check_image(value: str) -> str:
    if len(value) > 255 or not _IMAGE.fullmatch(value):
        raise ValueError(f"expected an image reference like nginx:1.27, registry:5000/team/app:v2 or app@sha256:<digest>, got {value[:80]!r}")
    return value


Scalar = str | int | float | bool
Text = Annotated[str, BeforeValidator(_as_text, json_schema_input_type=Scalar)]
EnvName = Annotated[str, Field(pattern=ENV_NAME)]
LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, BeforeValidator(_as_text, json_schema_input_type=Scalar), AfterValidator(_check_label_value)]
Image = Annotated[str, Field(min_length=1), AfterValidator(_check_image)]
PositiveSize = Annotated[str | int, BeforeValidator(_check_positive_size)]
Argv = Annotated[list[str], BeforeValidator(_as_argv, json_schema_input_type=list[str] | str)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    """Base for every manifest object: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Metadata(Strict):
    name: str = Field(pattern=DNS_LABEL, max_length=63, description="DNS-1123 label naming the app")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)


class Build(Strict):
    context: str = Field(".", description="build context directory, relative to the manifest")
    dockerfile: str = "Dockerfile"
    args: dict[str, Text] = Field(default_factory=dict)
    target: str | None = Field(None, min_length=1, description="multi-stage build: the stage to build (docker build --target)")


class Port(Strict):
    port: PortNumber = Field(description="the port the container listens on")
    protocol: Literal["http", "tcp", "udp"] = "http"
    expose: Literal["public", "internal", "none"] = "internal"
    published: PortNumber | None = Field(
        None, description="port users reach for `expose: public` (defaults to `port`)"
    )
    name: str | None = Field(None, pattern=DNS_LABEL, max_length=15)

    @property
    def public_port(self) -> int:
        return self.published or self.port


class HttpCheck(Strict):
    path: str = Field("/", pattern=r"^/")
    port: PortNumber


class TcpCheck(Strict):
    port: PortNumber


class ExecCheck(Strict):
    command: Argv = Field(min_length=1)


class Health(Strict):
    http: HttpCheck | None = None
    tcp: TcpCheck | None = None
    exec: ExecCheck | None = None
    interval: Duration = "10s"
    timeout: Duration = "5s"
    retries: int = Field(3, ge=1, le=100)
    start_period: Duration = "0s"

    @model_validator(mode="after")
    def _exactly_one_probe(self) -> "Health":
        kinds = [k for k in ("http", "tcp", "exec") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("set exactly one of http, tcp or exec" + (f" (got {', '.join(kinds)})" if kinds else ""))
        return self

    @property
    def interval_s(self) -> float:
        return parse_duration(self.interval)

    @property
    def timeout_s(self) -> float:
        return parse_duration(self.timeout)

    @property
    def start_period_s(self) -> float:
        return parse_duration(self.start_period)


class Resources(Strict):
    cpu: Cpu | None = Field(None, description="cores: 0.5, 2 or 500m")
    memory: PositiveSize | None = Field(None, description="bytes with units: 256Mi, 1Gi")

    @property
    def cpu_cores(self) -> float | None:
        return parse_cpu(self.cpu) if self.cpu is not None else None

    @property
    def memory_bytes(self) -> int | None:
        return parse_size(self.memory) if self.memory is not None else None


def _or_short_string(pattern: str | None) -> Any:
    """json_schema_extra for a model that also accepts a one-string short form."""

    def extra(schema: dict[str, Any]) -> None:
        long_form = dict(schema)
        schema.clear()
        short: dict[str, Any] = {"type": "string"}
        if pattern:
            short["pattern"] = pattern
        schema["anyOf"] = [long_form, short]

    return extra


class VolumeMount(Strict):
    model_config = ConfigDict(json_schema_extra=_or_short_string(r"^[^:]+:/[^:]*(:(ro|rw))?$"))

    volume: str = Field(description="name of an entry under top-level `volumes`")
    path: str = Field(pattern=r"^/", description="absolute path in the container")
    read_only: bool = False

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        """Accept compose's `data:/var/lib/data[:ro]`."""
        if isinstance(value, str):
            parts = value.split(":")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
                raise ValueError("expected `volume:/path` or `volume:/path:ro`")
            return {"volume": parts[0], "path": parts[1], "read_only": len(parts) == 3 and parts[2] == "ro"}
        return value


class SecretRef(Strict):
    model_config = ConfigDict(json_schema_extra=_or_short_string(None))

    name: str = Field(description="name of an entry under top-level `secrets`")
    path: str | None = Field(None, pattern=r"^/", description="file path in the container (default /run/secrets/NAME)")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def mount_path(self) -> str:
        return self.path or f"/run/secrets/{self.name}"


class ConfigFile(Strict):
    path: str = Field(pattern=r"^/", description="absolute path in the container")
    content: str
    mode: int = Field(0o644, ge=0, le=0o777)


class Autoscale(Strict):
    min: int = Field(ge=1)
    max: int = Field(ge=1)
    cpu_percent: int = Field(80, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> "Autoscale":
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self


# Linux capability names as Docker, containerd and Kubernetes take them (without CAP_)
CAPABILITIES = (
    "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
    "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE",
    "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG",
    "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
    "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM",
)


if TYPE_CHECKING:
    Capability = str
else:  # exactly the names every runtime takes, so the schema and the loader agree
    Capability = Literal[("ALL", *CAPABILITIES)]


class Capabilities(Strict):
    add: list[Capability] = Field(default_factory=list, description="capabilities the service needs (CHOWN, SETUID, NET_ADMIN ...)")
    drop: list[Capability] = Field(default_factory=lambda: ["ALL"], description="capabilities removed (default: ALL, so only `add` remains)")

    @property
    def drops_all(self) -> bool:
        return "ALL" in self.drop


class Security(Strict):
    """How much of the host a service's container may use: hardened unless the manifest says otherwise."""

    privileged: bool = Field(False, description="every capability and every device of the host (refused by `portable check`)")
    read_only_root: bool = Field(False, description="the container's root filesystem is read-only (volumes stay writable)")
    no_new_privileges: bool = Field(True, description="setuid binaries cannot raise privileges (allowPrivilegeEscalation: false)")
    capabilities: Capabilities = Field(default_factory=Capabilities)
    host_network: bool = Field(False, description="share the host's network namespace")
    host_pid: bool = Field(False, description="share the host's process namespace")
    host_ipc: bool = Field(False, description="share the host's IPC namespace")

    def effective_capabilities(self, ports: list[int]) -> tuple[list[str], list[str]]:
        """(add, drop) as given to the runtime: NET_BIND_SERVICE is added when every
        capability is dropped and the service listens below 1024 (port 80, 443, ...)."""
        add = list(dict.fromkeys(self.capabilities.add))
        if self.capabilities.drops_all and any(p < 1024 for p in ports) and "NET_BIND_SERVICE" not in add and "ALL" not in add:
            add.append("NET_BIND_SERVICE")
        return add, list(dict.fromkeys(self.capabilities.drop))


class Service(Strict):
    image: Image | None = None
    build: Build | None = None
    command: Argv | None = Field(None, description="replaces the image's entrypoint")
    args: Argv | None = Field(None, description="replaces the image's default arguments (CMD)")
    env: dict[EnvName, Text] = Field(default_factory=dict)
    secrets: list[SecretRef] = Field(default_factory=list)
    ports: list[Port] = Field(default_factory=list)
    replicas: int = Field(1, ge=0, le=1000)
    resources: Resources = Field(default_factory=Resources)
    health: Health | None = None
    volumes: list[VolumeMount] = Field(default_factory=list)
    files: list[ConfigFile] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    restart: Literal["always", "on-failure", "unless-stopped", "no"] = "always"
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    user: str | None = None
    working_dir: str | None = Field(None, pattern=r"^/", description="directory the command runs in (default: the image's WORKDIR); compose's `working_dir`")
    stop_grace_period: Duration = "10s"
    autoscale: Autoscale | None = None
    security: Security = Field(default_factory=Security, description="privileges and capabilities (hardened by default)")

    @model_serializer(mode="wrap")
    def _without_unset_additions(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Fields added after v1 shipped are left out of dumps while unset, so digests and
        revisions of existing manifests (and so their deployments) do not change."""
        data = handler(self)
        if isinstance(data, dict) and data.get("working_dir") is None:
            data.pop("working_dir", None)
        if isinstance(data, dict) and "security" in data and self.security == Security():
            data.pop("security")
        return data

    @field_validator("build", mode="before", json_schema_input_type=Build | str | None)
    @classmethod
    def _build_short(cls, value: Any) -> Any:
        return {"context": value} if isinstance(value, str) else value

    @field_validator("restart", mode="before", json_schema_input_type=Literal["always", "on-failure", "unless-stopped", "no", False])
    @classmethod
    def _restart_no(cls, value: Any) -> Any:
        return "no" if value is False else value  # YAML reads a bare `no` as false

    @property
    def stop_grace_s(self) -> float:
        return parse_duration(self.stop_grace_period)

    @property
    def is_stateful(self) -> bool:
        return bool(self.volumes)


class Volume(Strict):
    size: PositiveSize = "1Gi"

    @property
    def size_bytes(self) -> int:
        return parse_size(self.size)


class Secret(Strict):
    from_: str = Field(
        alias="from",
        pattern=r"^(env|file):.+$",
        description="where the value comes from: env:VARIABLE or file:PATH (relative to the manifest)",
    )

    @property
    def source_kind(self) -> str:
        return self.from_.split(":", 1)[0]

    @property
    def source_ref(self) -> str:
        return self.from_.split(":", 1)[1]


if TYPE_CHECKING:
    ProviderName = str
else:  # the choices are the registry's: adding a provider is one registry line, not an edit here
    from portable.providers.registry import REGISTRY as _PROVIDERS

    ProviderName = Literal[tuple(_PROVIDERS)]


class Target(BaseModel):
    """A place to deploy to. Provider settings are validated by the provider's own model."""

    model_config = ConfigDict(extra="allow")
    provider: ProviderName

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Manifest(Strict):
    apiVersion: Literal["portable/v1"]
    kind: Literal["Application"]
    metadata: Metadata
    services: dict[str, Service] = Field(min_length=1)
    volumes: dict[str, Volume] = Field(default_factory=dict)
    secrets: dict[str, Secret] = Field(default_factory=dict)
    targets: dict[str, Target] = Field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per target: a partial manifest merged over this one"
    )

    @property
    def name(self) -> str:
        return self.metadata.name
