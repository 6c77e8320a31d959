"""The front proxy VM of a public http service: vSphere's stand-in for a cloud load balancer.

vSphere has no load balancer of its own, so each service with a public http port gets one
small VM `<app>-<service>-lb` running kamal-proxy on the published port, booted by the shared
VM runtime's cloud-init like any service (a synthetic group spec: no second renderer). Its
upstreams travel through guestinfo: the provider writes `guestinfo.portable.backends`
(`ip:port,ip:port`, or `none`) with ReconfigVM; a relay in the guest (vendor data) reads it
with `vmware-rpctool info-get`, runs `kamal-proxy deploy` (which health-checks the new set
before switching and drains the old) and acknowledges in `guestinfo.portable.backends.applied`.
The address users reach stays the proxy's while replicas are replaced blue/green.
"""
from __future__ import annotations

import base64
import math
import shlex
import time
from collections.abc import Mapping
from typing import Any

from portable.engine import cancel
from portable.errors import HealthCheckError, InputError
from portable.manifest.app import App
from portable.manifest.model import Service
from portable.plan.resources import Resource
from portable.providers.vm.group import revision_of
from portable.providers.vsphere.connection import Session
from portable.providers.vsphere.readiness import VENDOR_SCRIPT

LB_KIND = "load-balancer"
BACKENDS_KEY = "guestinfo.portable.backends"
APPLIED_KEY = "guestinfo.portable.backends.applied"
NO_BACKENDS = "none"


def public_http_port(name: str, service: Service) -> Any | None:
    """The service's one public http port (None without any; several are refused)."""
    ports = [p for p in service.ports if p.expose == "public" and p.protocol == "http"]
    if len(ports) > 1:
        raise InputError(
            f"services.{name}.ports: the vsphere target fronts one public http port per service "
            f"(found {len(ports)})",
            hint="publish one http port, or split the service",
        )
    others = [p for p in service.ports if p.expose == "public" and p.protocol != "http"]
    if others and service.replicas > 1:
        raise InputError(
            f"services.{name}.replicas: public {others[0].protocol} ports are served by each VM itself on "
            "vSphere (only http goes through a front proxy), so such a service runs one replica",
        )
    return ports[0] if ports else None


def health_path(service: Service, port: int) -> str:
    h = service.health
    if h is not None and h.http is not None and h.http.port == port:
        return h.http.path
    return "/"


def lb_resource(app: App, name: str, service: Service, *, image: str, size: str) -> Resource | None:
    """The front proxy Resource of service `name`, or None when it publishes no http port."""
    port = public_http_port(name, service)
    if port is None:
        return None
    spec = {
        "app": app.name,
        "service": name,
        "image": image,
        "published": port.public_port,
        "target_port": port.port,
        "health_path": health_path(service, port.port),
        "instance_size": size,
    }
    return Resource(LB_KIND, name, spec, service=name)


def proxy_group_spec(lb: Resource) -> dict[str, Any]:
    """The lb as a group spec of the shared VM runtime: one kamal-proxy container."""
    s = lb.spec
    spec: dict[str, Any] = {
        "app": s["app"],
        "service": f"{s['service']}-lb",
        "image": s["image"],
        "command": ["kamal-proxy"],
        "args": ["run", "--http-port", str(s["published"])],
        "env": {},
        "secrets": [],
        "files": [],
        "ports": [{"port": s["published"], "protocol": "http", "expose": "public", "published": s["published"],
                   "host_port": s["published"], "name": None}],
        "volumes": [],
        "health": None,
        "restart": "always",
        "user": None,
        "stop_grace_s": 5.0,
        "labels": {},
        "peers": [],
        "instance_size": s["instance_size"],
        "replicas": 1,
    }
    spec["revision"] = revision_of(spec)
    return spec


def relay_script(lb: Resource) -> str:
    """Vendor data of the proxy VM: the readiness relay plus the upstream relay."""
    s = lb.spec
    container = shlex.quote(f"vm-{s['app']}-{s['service']}-lb")
    route = shlex.quote(s["service"])
    path = shlex.quote(s["health_path"])
    return VENDOR_SCRIPT + f"""
# upstreams: guestinfo.portable.backends -> kamal-proxy, acknowledged in ...backends.applied
(
  applied=""
  while true; do
    want=$(vmware-rpctool "info-get {BACKENDS_KEY}" 2>/dev/null || true)
    if [ -n "$want" ] && [ "$want" != "$applied" ] && docker exec {container} kamal-proxy list >/dev/null 2>&1; then
      if [ "$want" = {NO_BACKENDS} ]; then
        docker exec {container} kamal-proxy remove {route} >/dev/null 2>&1 || true; ok=0
      else
        docker exec {container} kamal-proxy deploy {route} --target "$want" --health-check-path {path} \\
          --deploy-timeout 120s --drain-timeout 5s >/dev/null 2>&1; ok=$?
      fi
      if [ "$ok" = 0 ]; then applied=$want; vmware-rpctool "info-set {APPLIED_KEY} $want" >/dev/null 2>&1; fi
    fi
    sleep 2
  done
) >/dev/null 2>&1 &
"""


def relay_guestinfo(lb: Resource) -> dict[str, str]:
    return {
        "guestinfo.vendordata": base64.b64encode(relay_script(lb).encode()).decode(),
        "guestinfo.vendordata.encoding": "base64",
    }


def _extra(session: Session, vm: Any) -> dict[str, str]:
    options = session.read(vm, "config.extraConfig", "reading the front proxy's upstreams") or []
    return {o.key: str(o.value) for o in options}


def current_backends(session: Session, vm: Any) -> list[str]:
    value = _extra(session, vm).get(BACKENDS_KEY, NO_BACKENDS)
    return [] if value in ("", NO_BACKENDS) else value.split(",")


def set_backends(session: Session, vm: Any, name: str, backends: list[str], *, wait: bool, timeout: float) -> None:
    """Points the proxy at exactly `backends`; waits (bounded) for the guest's acknowledgement."""
    from pyVmomi import vim

    value = ",".join(sorted(set(backends))) or NO_BACKENDS
    what = f"setting the upstreams of front proxy `{name}` to {value}"
    spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=BACKENDS_KEY, value=value)])
    task = session.call(what, lambda: vm.ReconfigVM_Task(spec=spec))
    session.wait_for_task(task, what, timeout=120.0)
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while _extra(session, vm).get(APPLIED_KEY) != value:
        if time.monotonic() > deadline:
            raise HealthCheckError(
                f"front proxy `{name}` did not switch to {value} within {math.ceil(timeout)}s",
                details=f"{APPLIED_KEY} = {_extra(session, vm).get(APPLIED_KEY, '(never set)')}",
                hint="kamal-proxy health-checks new upstreams before switching: check that they answer",
            )
        cancel.pause(0.3)


def lb_vm_name(spec: Mapping[str, Any]) -> str:
    return f"{spec['app']}-{spec['service']}-lb"


def proxy_clone_request(lb: Resource, user_data: str, backends: list[str]) -> Any:
    """The CloneRequest of the proxy VM: the service cloud-init plus the relay as vendor data."""
    from portable.providers.vsphere.machines import CloneRequest
    from portable.providers.vsphere.ownership import APP, DIGEST, KIND, REPLICA, REVISION, SERVICE
    from portable.providers.vsphere.specs import guestinfo, parse_size

    group = proxy_group_spec(lb)
    name = lb_vm_name(lb.spec)
    cpus, memory = parse_size(lb.spec["instance_size"])
    extra = {**guestinfo(user_data, name), **relay_guestinfo(lb)}
    extra[BACKENDS_KEY] = ",".join(sorted(set(backends))) or NO_BACKENDS
    marks = {APP: lb.spec["app"], SERVICE: lb.spec["service"], REVISION: group["revision"],
             DIGEST: lb.digest, REPLICA: "0", KIND: LB_KIND}
    return CloneRequest(name=name, cpus=cpus, memory_mb=memory, extra_config=extra, marks=marks)
