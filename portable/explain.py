"""`--explain`: for every field a manifest sets, how one target carries it, with file:line.

Each provider's behaviour is one table (field pattern -> as is / approximated / not at
all, and how), read from what its translation does; the warnings a provider raises at
plan time (`plan_warnings`) are added to the report, so one report says everything a
target will not honour. For a manifest imported from compose, positions are the compose
file's.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AS_IS = "as is"
APPROX = "approximated"
NOT_AT_ALL = "not at all"

Row = tuple[str, str]  # (how, detail)

_VM: dict[str, Row] = {
    "metadata.name": (AS_IS, "names and tags every instance, disk and cloud object"),
    "metadata.labels": (AS_IS, "instance tags and container labels"),
    "services.*": (AS_IS, "an instance group: `replicas` VMs, each running the container under cloud-init"),
    "services.*.image": (AS_IS, "pulled by the VM at first boot"),
    "services.*.build": (NOT_AT_ALL, "VM targets pull images; they cannot build (set `image`)"),
    "services.*.command": (AS_IS, "the container's entrypoint"),
    "services.*.args": (AS_IS, "the container's command"),
    "services.*.env": (AS_IS, "container environment"),
    "services.*.secrets": (AS_IS, "in the instance's user data, written to root-only files at boot"),
    "services.*.ports": (APPROX, "public http ports behind the cloud's load balancer where it has one, other public ports on the VM's address, internal ones on the private network"),
    "services.*.replicas": (AS_IS, "one VM per replica"),
    "services.*.resources": (APPROX, "the smallest instance size that fits cpu and memory (plus OS headroom); the container is not limited"),
    "services.*.health": (AS_IS, "the container's health check; the load balancer checks the same"),
    "services.*.volumes": (APPROX, "one data disk per replica (replicas do not share a volume)"),
    "services.*.files": (AS_IS, "in the user data, written before the container starts"),
    "services.*.depends_on": (AS_IS, "dependencies' instance groups are created and healthy first"),
    "services.*.restart": (AS_IS, "the container's restart policy on the VM"),
    "services.*.labels": (AS_IS, "container labels"),
    "services.*.user": (AS_IS, "the container's user"),
    "services.*.working_dir": (AS_IS, "the container's working directory (docker run --workdir)"),
    "services.*.security": (AS_IS, "the same docker run flags on the VM: --cap-drop/--cap-add, no-new-privileges, --read-only (docs/security.md)"),
    "services.*.stop_grace_period": (AS_IS, "the container's stop timeout"),
    "services.*.autoscale": (NOT_AT_ALL, "instance groups have a fixed size: `replicas`"),
    "volumes.*.size": (AS_IS, "the disk's size (rounded up to whole GiB)"),
    "secrets.*": (AS_IS, "read at apply time, carried in the user data only"),
}

TABLES: dict[str, dict[str, Row]] = {
    "docker": {
        "metadata.name": (AS_IS, "prefixes containers, volumes and the network"),
        "metadata.labels": (AS_IS, "container labels"),
        "services.*": (AS_IS, "one container per replica on the app network"),
        "services.*.image": (AS_IS, "pulled when missing"),
        "services.*.build": (AS_IS, "built by the engine when no `image` is set"),
        "services.*.command": (AS_IS, "ENTRYPOINT"),
        "services.*.args": (AS_IS, "CMD"),
        "services.*.env": (AS_IS, "container environment"),
        "services.*.secrets": (AS_IS, "root-only files put into the container"),
        "services.*.ports": (AS_IS, "public http ports through the front proxy, other public ports bound on the host, internal ones on the app network"),
        "services.*.replicas": (AS_IS, "containers; several replicas need the front proxy for public ports"),
        "services.*.resources": (AS_IS, "cpu and memory limits"),
        "services.*.health": (AS_IS, "the container HEALTHCHECK; deploys wait for it"),
        "services.*.volumes": (AS_IS, "named volumes"),
        "services.*.files": (AS_IS, "written into the container before it starts"),
        "services.*.depends_on": (AS_IS, "dependencies started and healthy first"),
        "services.*.restart": (AS_IS, "the restart policy"),
        "services.*.labels": (AS_IS, "container labels"),
        "services.*.user": (AS_IS, "the container's user"),
        "services.*.working_dir": (AS_IS, "the container's working directory"),
        "services.*.security": (AS_IS, "--cap-drop/--cap-add, no-new-privileges, --read-only, the engine's seccomp profile (docs/security.md)"),
        "services.*.stop_grace_period": (AS_IS, "the stop timeout"),
        "services.*.autoscale": (NOT_AT_ALL, "a Docker engine does not scale by load; `replicas` containers run"),
        "volumes.*.size": (NOT_AT_ALL, "Docker named volumes have no size"),
        "secrets.*": (AS_IS, "read at apply time, written into the containers only"),
    },
    "kubernetes": {
        "metadata.name": (AS_IS, "names and labels every object"),
        "metadata.labels": (AS_IS, "object labels (Kubernetes label syntax)"),
        "services.*": (AS_IS, "a Deployment (a StatefulSet with volumes) and a Service"),
        "services.*.image": (AS_IS, "pulled by the kubelet"),
        "services.*.build": (NOT_AT_ALL, "Kubernetes builds no images: the pod runs APP-SERVICE:latest, push it where the cluster pulls from"),
        "services.*.command": (AS_IS, "container `command`"),
        "services.*.args": (AS_IS, "container `args`"),
        "services.*.env": (AS_IS, "container `env`"),
        "services.*.secrets": (AS_IS, "a Secret mounted as files"),
        "services.*.ports": (AS_IS, "a Service; public http ports through an Ingress when the target sets `ingress`, other public ports a LoadBalancer Service"),
        "services.*.replicas": (AS_IS, "the workload's replicas"),
        "services.*.resources": (AS_IS, "requests and limits"),
        "services.*.health": (AS_IS, "readiness and liveness probes; rollouts wait for them"),
        "services.*.volumes": (AS_IS, "PersistentVolumeClaims (a StatefulSet's claim templates)"),
        "services.*.files": (AS_IS, "a ConfigMap mounted at each path"),
        "services.*.depends_on": (APPROX, "applied after the dependency's rollout is healthy; pods restarted later do not wait"),
        "services.*.restart": (APPROX, "pods always restart: only `always` is expressible for a Deployment/StatefulSet"),
        "services.*.labels": (AS_IS, "object labels (Kubernetes label syntax)"),
        "services.*.user": (AS_IS, "the security context's runAsUser/runAsGroup"),
        "services.*.working_dir": (AS_IS, "the container's workingDir"),
        "services.*.security": (AS_IS, "the securityContext: capabilities, allowPrivilegeEscalation, readOnlyRootFilesystem, seccomp RuntimeDefault (docs/security.md)"),
        "services.*.stop_grace_period": (AS_IS, "terminationGracePeriodSeconds"),
        "services.*.autoscale": (AS_IS, "a HorizontalPodAutoscaler on cpu"),
        "volumes.*.size": (AS_IS, "the claim's storage request"),
        "secrets.*": (AS_IS, "read at apply time, written into a Secret"),
    },
    "aws": _VM,
    "libcloud": _VM,
    "vsphere": _VM,
}


@dataclass(frozen=True)
class Line:
    path: str
    how: str
    detail: str
    where: str  # FILE:LINE, or the file alone

    def render(self) -> str:
        return f"{self.where}: {self.path}: {self.how} ({self.detail})"


def _generic(path: str) -> str:
    parts = re.sub(r"\[\d+\]", "", path).split(".")
    if parts[0] in ("services", "volumes", "secrets") and len(parts) > 1:
        parts[1] = "*"
    return ".".join(parts)


def row_for(provider: str, path: str) -> Row | None:
    """The table's row for a manifest path (its nearest listed ancestor)."""
    table = TABLES.get(provider, {})
    probe = _generic(path)
    while probe:
        if probe in table:
            return table[probe]
        probe = probe.rpartition(".")[0]
    return None


def _special(provider: str, path: str, value: Any) -> Row | None:
    """Rows that depend on the value, not only the field."""
    if provider == "kubernetes" and path.endswith(".restart") and value == "always":
        return (AS_IS, "pods always restart")
    if provider == "docker" and path.endswith(".build"):
        return None
    return None


def _fields(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(path, value) of every field written in the manifest: services' fields one by one."""
    out: list[tuple[str, Any]] = []
    meta = data.get("metadata", {})
    out.append(("metadata.name", meta.get("name")))
    if meta.get("labels"):
        out.append(("metadata.labels", meta["labels"]))
    for name, svc in (data.get("services") or {}).items():
        for key, value in (svc or {}).items():
            out.append((f"services.{name}.{key}", value))
    for name, vol in (data.get("volumes") or {}).items():
        out.append((f"volumes.{name}.size", (vol or {}).get("size", "1Gi (default)")))
    for name in data.get("secrets") or {}:
        out.append((f"secrets.{name}", None))
    return out


def explain(loaded: Any, app: Any, plan_warnings: list[str] | None = None) -> list[Line]:
    """Every field the manifest sets (bound to `app`'s target) with how its provider carries it.

    `plan_warnings` (the provider's own words, `path: text`) are added where the table has
    nothing more specific to say.
    """
    from portable.compose.manifest import origins_of

    provider = app.target.provider
    data = app.manifest.model_dump(mode="json", by_alias=True, exclude_unset=True)
    origins = origins_of(loaded)
    lines: list[Line] = []
    for path, value in _fields(data):
        row = _special(provider, path, value) or row_for(provider, path) or (NOT_AT_ALL, f"{provider} has no equivalent")
        lines.append(Line(path, row[0], row[1], _where(loaded, origins, path)))
    conversion = getattr(loaded, "conversion", None)
    for finding in conversion.findings if conversion is not None else []:
        if finding.fails_strict:  # what the import itself could not carry, for every target
            how = NOT_AT_ALL if finding.fate == "not carried" else APPROX
            lines.append(Line(finding.path, how, f"compose: {finding.text}", f"{finding.loc.file}:{finding.loc.line}"))
    said = {ln.path for ln in lines if ln.how != AS_IS}
    for warning in plan_warnings or []:
        path, _, text = warning.partition(": ")
        if path not in said:
            lines.append(Line(path, APPROX, text, _where(loaded, origins, path)))
    return lines


def _where(loaded: Any, origins: Mapping[str, Any] | None, path: str) -> str:
    if origins is not None:
        probe = path
        while probe:
            if probe in origins:
                loc = origins[probe]
                return f"{loc.file}:{loc.line}"
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return str(loaded.path)
    line, _ = loaded.positions.at(tuple(path.split(".")), key=True)
    return f"{loaded.path}:{line}" if line else str(loaded.path)


def explain_target(path: Any, target: str, env: Mapping[str, str] | None = None) -> list[Line]:
    """`portable explain -t T`: loads the manifest (or compose files) and explains it for T."""
    from portable.errors import PortableError
    from portable.manifest import bind_app, parse_file

    loaded = parse_file(path, env)
    app = bind_app(loaded, target, env)
    warnings: list[str] = []
    try:
        from portable.session import open_provider

        warnings = list(open_provider(app).plan_warnings(app))
    except (PortableError, ImportError):  # a provider whose SDK is missing still gets its table
        warnings = []
    return explain(loaded, app, warnings)
