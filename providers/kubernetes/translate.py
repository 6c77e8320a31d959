"""Pure translation of an App into Kubernetes objects, one Resource per object.

No I/O and no secret values: a Secret's Resource carries its key names and a one-way
digest of the value (so a changed secret updates the Secret and rolls its users); apply
fills the data in from `app.secret_value`. kind/name of every Resource are the object's
Kind and name, so observe can match what it lists back to these.
"""
from __future__ import annotations

from typing import Any

from portable.errors import InputError
from portable.manifest.app import App
from portable.manifest.model import Service
from portable.plan.resources import Resource
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.settings import KubernetesSettings
from portable.providers.kubernetes.workload import claim_spec, workload
from portable.paused_gc import without_gc

SECRET_DIGEST = "portable.io/secret-digest"


def namespace_of(app: App, settings: KubernetesSettings) -> str:
    return settings.namespace or app.name


def _secret_digest(app: App, name: str) -> str:
    try:
        return app.secret_digest(name)
    except InputError:  # not readable here (e.g. render without the value): apply will say so
        return "unresolved"


def _meta(app: App, name: str, namespace: str, service: str | None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    extra = dict(app.labels)
    if service:
        extra.update(app.services[service].labels)
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": n.object_labels(app.name, service, extra)}
    if annotations:
        meta["annotations"] = annotations
    return meta


def secret_names(app: App) -> dict[str, str]:
    """manifest secret name -> Secret object name."""
    return {s: n.dns_name(app.name, s) for s in app.manifest.secrets}


def _secrets(app: App, ns: str) -> list[Resource]:
    used = sorted({ref.name for svc in app.services.values() for ref in svc.secrets})
    names = secret_names(app)
    out = []
    for secret in used:
        spec = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta(app, names[secret], ns, None, {
                n.SECRET_KEYS: "value",
                n.SECRET_SOURCE: secret,
                SECRET_DIGEST: _secret_digest(app, secret),
            }),
            "type": "Opaque",
        }
        out.append(Resource("Secret", names[secret], spec))
    return out


def _registry_secrets(app: App, settings: KubernetesSettings, ns: str) -> list[Resource]:
    out = []
    for i, reg in enumerate(settings.registries):
        name = n.dns_name(app.name, "registry", str(i))
        digest = n.short_hash([reg.server, reg.username, _secret_digest(app, reg.password_secret)])
        annotations = {n.SECRET_KEYS: ".dockerconfigjson", n.SECRET_SOURCE: reg.password_secret, SECRET_DIGEST: digest,
                       "portable.io/registry": f"{reg.username}@{reg.server}"}
        spec = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(app, name, ns, None, annotations),
                "type": "kubernetes.io/dockerconfigjson"}
        out.append(Resource("Secret", name, spec))
    return out


def _services(app: App, settings: KubernetesSettings, name: str, svc: Service, ns: str) -> list[Resource]:
    """ClusterIP `<svc>` (in-cluster name:port, like a Docker network) and `<svc>-public`."""
    out: list[Resource] = []
    reachable = [p for p in svc.ports if p.expose != "none"]
    selector = n.selector_labels(app.name, name)

    def port_name(p: Any) -> str:
        return p.name or f"{p.protocol}-{p.port}"

    if reachable:
        ports = [{"name": port_name(p), "port": p.port, "targetPort": p.port, "protocol": "UDP" if p.protocol == "udp" else "TCP",
                  **({"appProtocol": "http"} if p.protocol == "http" else {})} for p in reachable]
        spec = {"apiVersion": "v1", "kind": "Service", "metadata": _meta(app, name, ns, name),
                "spec": {"type": "ClusterIP", "selector": selector, "ports": ports}}
        out.append(Resource("Service", name, spec, service=name))
    public = [p for p in svc.ports if p.expose == "public" and not (p.protocol == "http" and settings.ingress)]
    if public:
        ports = []
        for p in public:
            entry: dict[str, Any] = {"name": port_name(p), "port": p.public_port, "targetPort": p.port,
                                     "protocol": "UDP" if p.protocol == "udp" else "TCP"}
            if settings.public_service_type == "NodePort" and 30000 <= p.public_port <= 32767:
                entry["nodePort"] = p.public_port
            ports.append(entry)
        pub = n.dns_name(name, "public")
        spec = {"apiVersion": "v1", "kind": "Service", "metadata": _meta(app, pub, ns, name),
                "spec": {"type": settings.public_service_type, "selector": selector, "ports": ports}}
        out.append(Resource("Service", pub, spec, service=name))
    return out


def _ingress(app: App, settings: KubernetesSettings, ns: str) -> list[Resource]:
    if settings.ingress is None:
        return []
    routes = [(name, p) for name, svc in app.services.items() for p in svc.ports if p.expose == "public" and p.protocol == "http"]
    if not routes:
        return []
    base = settings.ingress.host
    per_service: dict[str, int] = {}
    for name, _ in routes:
        per_service[name] = per_service.get(name, 0) + 1
    rules = []
    for name, p in routes:
        if len(routes) == 1:
            host = base
        else:
            host = f"{name}.{base}" if per_service[name] == 1 else f"{name}-{p.port}.{base}"
        rules.append({"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"number": p.port}}}}]}})
    spec: dict[str, Any] = {"rules": rules}
    if settings.ingress.class_name:
        spec["ingressClassName"] = settings.ingress.class_name
    if settings.ingress.tls_secret:
        spec["tls"] = [{"hosts": [r["host"] for r in rules], "secretName": settings.ingress.tls_secret}]
    obj = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": _meta(app, app.name, ns, None), "spec": spec}
    return [Resource("Ingress", app.name, obj)]


def _service_resources(app: App, settings: KubernetesSettings, name: str, svc: Service, ns: str, pull: list[str], made_secrets: list[str]) -> list[Resource]:
    out: list[Resource] = []
    deps: list[str] = [f"Secret/{s}" for s in made_secrets]
    files_name = n.dns_name(name, "files")
    if svc.files:
        data = {n.config_key(i, f.path): f.content for i, f in enumerate(svc.files)}
        spec = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(app, files_name, ns, name), "data": data}
        out.append(Resource("ConfigMap", files_name, spec, service=name))
        deps.append(f"ConfigMap/{files_name}")
    names = secret_names(app)
    deps += [f"Secret/{names[ref.name]}" for ref in svc.secrets]
    config_digest = ""
    if svc.files or svc.secrets:
        config_digest = n.short_hash({"files": [f.content for f in svc.files],
                                      "secrets": [_secret_digest(app, ref.name) for ref in svc.secrets]})
    obj = workload(app, name, svc, namespace=ns, storage_class=settings.storage_class, pull_secrets=pull,
                   secret_names=names, config_digest=config_digest, restore_image=settings.restore_image)
    obj["spec"]["template"]["spec"].update(settings.pod_placement())
    kind = obj["kind"]
    effective = max(svc.replicas, svc.autoscale.min if svc.autoscale else 0)
    if svc.is_stateful:
        # Claims are made by portable under the names the StatefulSet controller looks for,
        # so they are plain Resources: kept when the service goes, removed by destroy --volumes.
        for volume in dict.fromkeys(m.volume for m in svc.volumes):
            for i in range(effective):
                claim = f"{volume}-{name}-{i}"
                spec = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(app, claim, ns, name),
                        "spec": claim_spec(app, volume, settings.storage_class)}
                out.append(Resource("PersistentVolumeClaim", claim, spec, service=name, stateful=True))
                deps.append(f"PersistentVolumeClaim/{claim}")
    deps += [f"{'StatefulSet' if app.services[d].is_stateful else 'Deployment'}/{d}" for d in svc.depends_on]
    out.append(Resource(kind, name, obj, depends_on=tuple(deps), service=name))
    out += _services(app, settings, name, svc, ns)
    if svc.autoscale is not None:
        hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(app, name, ns, name),
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
                        "minReplicas": svc.autoscale.min, "maxReplicas": svc.autoscale.max,
                        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                            "type": "Utilization", "averageUtilization": svc.autoscale.cpu_percent}}}]}}
        out.append(Resource("HorizontalPodAutoscaler", name, hpa, service=name))
    if effective > 1:
        pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(app, name, ns, name),
               "spec": {"maxUnavailable": 1, "selector": {"matchLabels": n.selector_labels(app.name, name)}}}
        out.append(Resource("PodDisruptionBudget", name, pdb, service=name))
    return out


@without_gc  # every Resource of the app, no cycles: see portable/paused_gc.py
def translate(app: App, settings: KubernetesSettings) -> list[Resource]:
    """Every object `app` needs in its namespace, in a stable order."""
    ns = namespace_of(app, settings)
    registry = _registry_secrets(app, settings, ns)
    pull = list(settings.image_pull_secrets) + [r.name for r in registry]
    out = _secrets(app, ns) + registry
    for name, svc in app.services.items():
        out += _service_resources(app, settings, name, svc, ns, pull, [r.name for r in registry])
    out += _ingress(app, settings, ns)
    return out
