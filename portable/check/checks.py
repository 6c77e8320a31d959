"""The checks: each one rule with an id, a default severity, and what to do about it.

A check reads the app as bound to one target and yields `Hit`s (service, field path,
message, fix); `run.py` gives them severity, policy and position. Every check reads only
the manifest and the target's settings: nothing here contacts a target.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from portable.manifest.app import App
from portable.manifest.model import Service


@dataclass(frozen=True)
class Hit:
    service: str | None
    path: str
    message: str
    fix: str


@dataclass(frozen=True)
class Check:
    id: str
    severity: str  # the default; a policy may change it
    title: str  # one line, for SARIF's rule and `portable check --list`
    run: Callable[[App], Iterator[Hit]]


CHECKS: dict[str, Check] = {}


def check(id: str, severity: str, title: str) -> Callable[[Callable[[App], Iterator[Hit]]], Callable[[App], Iterator[Hit]]]:
    def register(fn: Callable[[App], Iterator[Hit]]) -> Callable[[App], Iterator[Hit]]:
        CHECKS[id] = Check(id, severity, title, fn)
        return fn

    return register


def _svc(name: str) -> str:
    return f"services.{name}"


@check("privileged", "error", "a privileged container is root on the host")
def _privileged(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        if svc.security.privileged:
            yield Hit(name, f"{_svc(name)}.security.privileged",
                      "the container runs privileged: every capability and every host device, so a compromise of the service is a compromise of the host (Kubernetes' baseline and restricted policies reject it)",
                      "remove `privileged: true`; add only the capabilities the service needs under security.capabilities.add")


@check("privilege-escalation", "error", "setuid binaries may raise the process's privileges")
def _escalation(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        if not svc.security.no_new_privileges:
            yield Hit(name, f"{_svc(name)}.security.no_new_privileges",
                      "no_new_privileges is off: a setuid or file-capability binary in the image can raise the process's privileges (allowPrivilegeEscalation: true)",
                      "remove `no_new_privileges: false` (the default is true)")


def _root_user(user: str | None) -> bool:
    if not user:
        return True
    uid = user.partition(":")[0]
    return uid in ("0", "root")


@check("runs-as-root", "warning", "the container runs as root (or as the image's user, unknown)")
def _root(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        if svc.user is None:
            yield Hit(name, _svc(name),
                      "no `user:`: the container runs as the image's user, root unless the image says otherwise, so an escape from the process is root's",
                      "set `user: \"10001\"` (a numeric uid the image's files allow; Kubernetes' restricted policy needs it)")
        elif _root_user(svc.user):
            yield Hit(name, f"{_svc(name)}.user",
                      f"`user: {svc.user}` runs the container as root",
                      "set a non-root numeric uid, e.g. `user: \"10001\"`")


@check("capabilities-not-dropped", "warning", "the runtime's default capabilities are kept")
def _not_dropped(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        caps = svc.security.capabilities
        if not caps.drops_all:
            kept = f" (drops only {', '.join(caps.drop)})" if caps.drop else ""
            yield Hit(name, f"{_svc(name)}.security.capabilities.drop",
                      f"capabilities are not all dropped{kept}: the runtime's defaults (Docker's 14, containerd's) stay, e.g. NET_RAW for spoofed packets, CHOWN and DAC_OVERRIDE over every file",
                      "keep the default `drop: [ALL]` and name what the service needs under `add`")


@check("capabilities-added", "warning", "the service adds Linux capabilities")
def _added(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        extra = [c for c in svc.security.capabilities.add if c != "NET_BIND_SERVICE"]
        if extra:
            yield Hit(name, f"{_svc(name)}.security.capabilities.add",
                      f"the service adds {', '.join(extra)}: each is a power over the kernel or the files of other users beyond an ordinary process (Kubernetes' restricted policy allows only NET_BIND_SERVICE)",
                      "run the image as a non-root `user:` that owns its files, so it needs no capability; keep only what it cannot work without and waive this check with the reason")


@check("host-namespaces", "error", "the container shares the host's network, PID or IPC namespace")
def _host_ns(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        for field, what in (("host_network", "network (every host port and interface)"), ("host_pid", "processes (it can see and signal every process)"), ("host_ipc", "IPC (shared memory of every process)")):
            if getattr(svc.security, field):
                yield Hit(name, f"{_svc(name)}.security.{field}",
                          f"the container shares the host's {what}",
                          f"remove `{field}: true`; publish ports through `ports:` instead")


@check("writable-root", "note", "the root filesystem is writable")
def _writable(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        if not svc.security.read_only_root:
            yield Hit(name, _svc(name),
                      "the root filesystem is writable: an intruder can change the service's binaries and configuration in place",
                      "set `security: {read_only_root: true}` and mount a volume where the service writes")


@check("no-limits", "warning", "no CPU or memory limit")
def _limits(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        missing = [k for k in ("cpu", "memory") if getattr(svc.resources, k) is None]
        if missing:
            path = f"{_svc(name)}.resources" if svc.resources.cpu is not None or svc.resources.memory is not None else _svc(name)
            yield Hit(name, path,
                      f"no {' or '.join(missing)} limit: one busy or leaking replica can starve every other workload on the same host or node",
                      "set `resources: {cpu: 0.5, memory: 256Mi}` to what the service needs")


_DIGEST = re.compile(r"@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")


def image_tag(image: str) -> str | None:
    """The tag of an image reference (None when it has none), ignoring a registry's :port."""
    name = _DIGEST.sub("", image)
    last = name.rsplit("/", 1)[-1]
    return last.partition(":")[2] or None


@check("image-not-pinned", "warning", "the image tag is `latest` or missing")
def _pinned(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        if not svc.image or _DIGEST.search(svc.image):
            continue
        tag = image_tag(svc.image)
        if tag is None or tag == "latest":
            what = "has no tag (so `latest`)" if tag is None else "is tagged `latest`"
            yield Hit(name, f"{_svc(name)}.image",
                      f"image {svc.image} {what}: every pull may bring a different image, so what runs is not what was reviewed, and a rollback does not go back",
                      f"pin a version ({svc.image.removesuffix(':' + tag) if tag else svc.image}:1.2.3), better a digest (@sha256:...)")


_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|(^|_)KEY$)", re.IGNORECASE)
_REFERENCE_SUFFIX = re.compile(r"_(FILE|PATH|DIR|URL_FILE)$", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/:@\s]+:([^/@\s]+)@", re.IGNORECASE)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def secret_looking(key: str, value: str) -> str | None:
    """Why `key=value` looks like a secret written in the manifest (None when it does not)."""
    if not value or value.startswith("/"):
        return None
    if _URL_PASSWORD.match(value):
        return "the URL carries a password"
    if _SECRET_NAME.search(key) and not _REFERENCE_SUFFIX.search(key) and value.lower() not in ("true", "false", "none", "disabled", "trust", "md5", "scram-sha-256"):
        return f"the name {key} says it is a credential"
    if len(value) >= 20 and " " not in value and "://" not in value and _entropy(value) >= 4.0 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
        return "the value is long and random-looking, like a key or token"
    return None


@check("literal-secret", "warning", "a secret-looking value written in `env:`")
def _literal_secret(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        for key, value in svc.env.items():
            why = secret_looking(key, value)
            if why:
                yield Hit(name, f"{_svc(name)}.env.{key}",
                          f"{why}: a value in `env:` sits in the manifest, in plan output and in the target's plain configuration (container inspect, the pod spec, VM user data)",
                          f"declare it under top-level `secrets: {{name: {{from: env:VAR}}}}` and mount it with the service's `secrets:` (or point {key}_FILE at /run/secrets/NAME)")


@check("no-health", "warning", "no health check")
def _health(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        if svc.health is None and svc.replicas > 0:
            yield Hit(name, _svc(name),
                      "no `health:` check: a deploy cannot tell a started container from a working one, so a broken revision is not rolled back and traffic reaches it",
                      "add `health: {http: {path: /healthz, port: PORT}}` (or tcp, or exec)")


def _public_http(svc: Service) -> list[int]:
    return [i for i, p in enumerate(svc.ports) if p.expose == "public" and p.protocol == "http"]


@check("public-without-tls", "warning", "a public HTTP port served without TLS where the target can terminate it")
def _tls(app: App) -> Iterator[Hit]:
    if app.target.provider != "kubernetes":
        return  # only the Kubernetes target (through its Ingress) terminates TLS today
    ingress: Any = app.settings.get("ingress") or {}
    if isinstance(ingress, dict) and ingress.get("tls_secret"):
        return
    for name, svc in app.services.items():
        for i in _public_http(svc):
            fix = (f"set targets.{app.target_name}.ingress.tls_secret to a kubernetes.io/tls Secret" if ingress
                   else f"publish it through an Ingress with TLS: targets.{app.target_name}.ingress: {{host: ..., tls_secret: ...}}")
            yield Hit(name, f"{_svc(name)}.ports[{i}]",
                      f"port {svc.ports[i].port} is public plain HTTP on target `{app.target_name}`, which can terminate TLS: passwords and cookies cross the network readable",
                      fix)


_DATABASES = ("postgres", "postgresql", "mysql", "mariadb", "mongo", "mongodb", "redis", "valkey", "memcached", "elasticsearch", "opensearch", "cassandra", "couchdb", "influxdb", "clickhouse", "neo4j", "etcd", "rabbitmq", "mssql")


def image_name(image: str) -> str:
    """The last path component of an image reference without tag or digest: postgres, redis."""
    return _DIGEST.sub("", image).rsplit("/", 1)[-1].partition(":")[0]


@check("database-public", "error", "a database image exposed publicly")
def _database(app: App) -> Iterator[Hit]:
    for name, svc in app.services.items():
        if not svc.image:
            continue
        base = image_name(svc.image)
        db = next((d for d in _DATABASES if base == d or base.startswith(d + "-") or base.endswith("-" + d)), None)
        if db is None:
            continue
        for i, p in enumerate(svc.ports):
            if p.expose == "public":
                yield Hit(name, f"{_svc(name)}.ports[{i}].expose",
                          f"{svc.image} looks like {db}, and port {p.port} is public: databases are the first thing scanned for on the internet, and their own authentication is rarely built for it",
                          "set `expose: internal` (the other services still reach it by name)")


def _loopback_registry(image: str) -> str | None:
    first = image.split("/", 1)[0] if "/" in image else ""
    if not first or ("." not in first and ":" not in first and first != "localhost"):
        return None
    host = first.rsplit(":", 1)[0] if not first.startswith("[") else first[1:].partition("]")[0]
    if host == "localhost":
        return first
    try:
        return first if ip_address(host).is_loopback else None
    except ValueError:
        return None


@check("registry-plain-http", "warning", "images from a plain-HTTP registry on a remote target")
def _plain_registry(app: App) -> Iterator[Hit]:
    remote = app.target.provider != "docker" or bool(app.settings.get("host"))
    if not remote:
        return
    for key in ("registries",):
        for i, reg in enumerate(app.settings.get(key) or []):
            if isinstance(reg, dict) and str(reg.get("server", "")).startswith("http://"):
                yield Hit(None, f"targets.{app.target_name}.{key}[{i}].server",
                          f"registry {reg['server']} is plain HTTP: images and the pull password cross the network unauthenticated and readable, and can be swapped on the way",
                          "serve the registry over HTTPS and write its host without http://")
    reg = app.settings.get("registry")
    if isinstance(reg, dict) and str(reg.get("server", "")).startswith("http://"):
        yield Hit(None, f"targets.{app.target_name}.registry.server",
                  f"registry {reg['server']} is plain HTTP: images and the pull password cross the network readable",
                  "serve the registry over HTTPS and write its host without http://")
    for name, svc in app.services.items():
        registry = _loopback_registry(svc.image or "")
        if registry:
            yield Hit(name, f"{_svc(name)}.image",
                      f"image {svc.image} comes from {registry}, a loopback registry (which Docker and containerd reach over plain HTTP): on target `{app.target_name}` each host pulls from its own loopback, without TLS",
                      "push the image to a registry served over HTTPS that the target reaches")
