"""`status` and `logs` for a kubernetes target: what runs, where users reach it, what it says."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from portable.errors import NotFoundError, PortableError, TargetError
from portable.manifest.app import App
from portable.plan.resources import InstanceStatus, LogLine, ServiceStatus
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.client import Kube
from portable.providers.kubernetes.rollout import pod_ready


def _pod_state(pod: dict[str, Any]) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "terminating"
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(pod.get("status", {}).get("phase", "Unknown")).lower()


def _endpoints(service: str, namespace: str, services: list[dict[str, Any]], ingresses: list[dict[str, Any]], node_ip: str | None) -> list[str]:
    out: list[str] = []
    internal: list[str] = []
    for ing in ingresses:
        tls_hosts = {h for t in ing.get("spec", {}).get("tls") or [] for h in t.get("hosts") or []}
        for rule in ing.get("spec", {}).get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                if path.get("backend", {}).get("service", {}).get("name") == service:
                    scheme = "https" if rule.get("host") in tls_hosts else "http"
                    out.append(f"{scheme}://{rule.get('host', '*')}{path.get('path', '/')}")
    for svc in services:
        if svc["metadata"].get("labels", {}).get(n.SERVICE_LABEL) != service:
            continue
        spec = svc.get("spec", {})
        for port in spec.get("ports") or []:
            if spec.get("type") == "LoadBalancer":
                for lb in (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []:
                    out.append(f"{lb.get('ip') or lb.get('hostname')}:{port['port']}")
            if spec.get("type") in ("LoadBalancer", "NodePort") and port.get("nodePort") and node_ip:
                out.append(f"{node_ip}:{port['nodePort']}")
            if spec.get("type") == "ClusterIP":
                internal.append(f"{svc['metadata']['name']}.{namespace}.svc:{port['port']}")
    # what users reach comes first; the in-cluster name only for services nobody outside reaches
    return out or internal


def _node_ip(kube: Kube) -> str | None:
    try:
        nodes = kube.list("Node", None)
    except PortableError:
        return None
    for node in nodes:
        for addr in node.get("status", {}).get("addresses") or []:
            if addr.get("type") in ("ExternalIP", "InternalIP"):
                return str(addr["address"])
    return None


def status(kube: Kube, app: App, namespace: str) -> list[ServiceStatus]:
    selector = n.app_selector(app.name)
    kinds = ("Deployment", "StatefulSet", "Pod", "Service", "Ingress")
    with ThreadPoolExecutor(len(kinds) + 1) as pool:
        futures = {k: pool.submit(kube.list, k, namespace, selector) for k in kinds}
        node_future = pool.submit(_node_ip, kube)
        found = {k: f.result() for k, f in futures.items()}
        node_ip = node_future.result()
    workloads = {w["metadata"]["name"]: w for w in found["Deployment"] + found["StatefulSet"]}
    names = list(app.services) + sorted(set(workloads) - set(app.services))
    out = []
    for name in names:
        w = workloads.get(name)
        desired = int((w or {}).get("spec", {}).get("replicas") or 0) if w else 0
        pods = sorted((p for p in found["Pod"] if p["metadata"].get("labels", {}).get(n.NAME) == name), key=lambda p: p["metadata"]["name"])
        has_health = name in app.services and app.services[name].health is not None
        instances = tuple(
            InstanceStatus(
                name=p["metadata"]["name"],
                state=_pod_state(p),
                healthy=pod_ready(p) if has_health else None,
                address=p.get("status", {}).get("podIP"),
                revision=p["metadata"].get("annotations", {}).get(n.REVISION),
            )
            for p in pods
        )
        running = sum(1 for p in pods if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp"))
        healthy = sum(1 for p in pods if pod_ready(p))
        endpoints = tuple(_endpoints(name, namespace, found["Service"], found["Ingress"], node_ip))
        out.append(ServiceStatus(name, desired, running, healthy, endpoints, instances))
    return out


def _pods_of(kube: Kube, app: App, namespace: str, services: list[str]) -> list[tuple[str, str]]:
    pods = kube.list("Pod", namespace, n.app_selector(app.name))
    wanted = set(services or app.services)
    out = [(p["metadata"]["labels"].get(n.NAME, "?"), p["metadata"]["name"]) for p in pods]
    return sorted((s, p) for s, p in out if s in wanted)


def _read_lines(kube: Kube, namespace: str, pod: str, *, follow: bool, tail: int) -> Iterator[str]:
    query = {"tailLines": str(tail)} if tail >= 0 else {}
    if follow:
        query["follow"] = "true"
    try:
        resp = kube.raw(kube.path("Pod", namespace, pod) + "/log", what=f"logs of pod {pod} in namespace {namespace}", query=query,
                        timeout=None if follow else kube.settings.request_timeout)
    except NotFoundError as exc:
        # the API server found the pod but the node's kubelet has no logs for it
        raise TargetError(f"the node running pod {pod} in namespace {namespace} did not return its logs", hint=exc.message) from None
    buffer = b""
    for chunk in resp.stream(4096, decode_content=True):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if buffer:
        yield buffer.decode(errors="replace")


def logs(kube: Kube, app: App, namespace: str, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]:
    """Lines of every pod of `services` (all when empty); with follow, interleaved as they come."""
    pods = _pods_of(kube, app, namespace, services)
    if not pods:
        raise TargetError(f"no pods of {', '.join(services) or app.name} in namespace {namespace}", hint="is the app deployed to this target?")
    if not follow:
        for service, pod in pods:
            for text in _read_lines(kube, namespace, pod, follow=False, tail=tail):
                yield LogLine(service, pod, text)
        return
    lines: queue.Queue[LogLine | BaseException | None] = queue.Queue()

    def pump(service: str, pod: str) -> None:
        try:
            for text in _read_lines(kube, namespace, pod, follow=True, tail=tail):
                lines.put(LogLine(service, pod, text))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            lines.put(exc)
        finally:
            lines.put(None)

    for service, pod in pods:
        threading.Thread(target=pump, args=(service, pod), daemon=True, name=f"logs-{pod}").start()
    open_streams = len(pods)
    while open_streams:
        item = lines.get()
        if item is None:
            open_streams -= 1
        elif isinstance(item, BaseException):
            raise item
        else:
            yield item
