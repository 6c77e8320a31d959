"""Builds the workload of one service: its pod template, then a Deployment or StatefulSet.

Stateless services become Deployments (surge one pod at a time, never below the desired
count); services with volumes become StatefulSets whose volumeClaimTemplates give every
replica its own volume (see README.md for why).
"""
from __future__ import annotations

import math
from typing import Any

from portable.manifest.app import App
from portable.manifest.model import Health, Service
from portable.manifest.units import format_millicores
from portable.data.restore_script import is_fed, render_restore_script
from portable.providers.kubernetes.feed import MOUNT as FEED_MOUNT
from portable.providers.kubernetes.feed import wait_script
from portable.providers.hardening import runtime_security
from portable.providers.kubernetes import naming as n


def quantity(size: int) -> str:
    """Bytes as the tidiest exact Kubernetes quantity: 1Gi, 256Mi, or plain bytes."""
    for unit, scale in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def seconds(value: float, minimum: int = 1) -> int:
    return max(minimum, math.ceil(value))


def probe(health: Health) -> dict[str, Any]:
    """The check part of a probe (httpGet / tcpSocket / exec) plus its timing."""
    if health.http is not None:
        check: dict[str, Any] = {"httpGet": {"path": health.http.path, "port": health.http.port}}
    elif health.tcp is not None:
        check = {"tcpSocket": {"port": health.tcp.port}}
    else:
        assert health.exec is not None
        check = {"exec": {"command": list(health.exec.command)}}
    check.update(periodSeconds=seconds(health.interval_s), timeoutSeconds=seconds(health.timeout_s))
    return check


def probes(health: Health | None) -> dict[str, Any]:
    """readiness and liveness as the manifest says; a startup probe covers start_period."""
    if health is None:
        return {}
    base = probe(health)
    startup_failures = math.ceil(health.start_period_s / max(health.interval_s, 1)) + health.retries
    return {
        "readinessProbe": {**base, "failureThreshold": health.retries},
        "livenessProbe": {**base, "failureThreshold": health.retries},
        "startupProbe": {**base, "failureThreshold": startup_failures},
    }


def resources(svc: Service, needs_cpu_request: bool) -> dict[str, Any]:
    """Requests equal limits (Guaranteed QoS, like a container limit on Docker)."""
    amounts: dict[str, str] = {}
    if svc.resources.cpu_cores is not None:
        amounts["cpu"] = format_millicores(svc.resources.cpu_cores)
    if svc.resources.memory_bytes is not None:
        amounts["memory"] = quantity(svc.resources.memory_bytes)
    if not amounts and not needs_cpu_request:
        return {}
    out: dict[str, Any] = {}
    if amounts:
        out = {"requests": dict(amounts), "limits": dict(amounts)}
    if needs_cpu_request and "cpu" not in amounts:  # the HPA measures utilisation against a request
        out.setdefault("requests", {})["cpu"] = "100m"
    return out


def security_context(user: str | None, security: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod, container) securityContext from the service's `security:` (providers/hardening.py):
    seccomp RuntimeDefault, no privilege escalation, capabilities dropped but the named ones,
    read-only root on request; non-root when a user is set. What the restricted Pod Security
    Standard requires, as long as the service sets a non-root `user:`."""
    pod: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    sec = security or {}
    container: dict[str, Any] = {"allowPrivilegeEscalation": not sec.get("no_new_privileges", True)}
    if sec:
        if sec["privileged"]:
            container["privileged"] = True
        caps: dict[str, Any] = {}
        if sec["cap_add"]:
            caps["add"] = list(sec["cap_add"])
        if sec["cap_drop"]:
            caps["drop"] = list(sec["cap_drop"])
        if caps:
            container["capabilities"] = caps
        if sec["read_only_root"]:
            container["readOnlyRootFilesystem"] = True
    if user:
        uid, _, gid = user.partition(":")
        if uid.isdigit():
            pod["runAsUser"] = int(uid)
            if gid.isdigit():
                pod["runAsGroup"] = int(gid)
            if int(uid) != 0:
                pod["runAsNonRoot"] = True
        elif uid != "root":
            # Kubernetes takes numeric ids only; the image's USER must then be numeric too
            pod["runAsNonRoot"] = True
    return pod, container


def container(app: App, name: str, svc: Service, files_name: str, secret_names: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The service's container and the pod volumes it mounts (files, secrets, data)."""
    c: dict[str, Any] = {"name": name, "image": svc.image or f"{app.name}-{name}:latest", "imagePullPolicy": "IfNotPresent"}
    if svc.command:
        c["command"] = list(svc.command)
    if svc.args:
        c["args"] = list(svc.args)
    if svc.working_dir:
        c["workingDir"] = svc.working_dir
    if svc.env:
        c["env"] = [{"name": k, "value": v} for k, v in svc.env.items()]
    if svc.ports:
        c["ports"] = [
            {"containerPort": p.port, "protocol": "UDP" if p.protocol == "udp" else "TCP", **({"name": p.name} if p.name else {})}
            for p in svc.ports
        ]
    res = resources(svc, needs_cpu_request=svc.autoscale is not None)
    if res:
        c["resources"] = res
    c.update(probes(svc.health))
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if svc.files:
        items = [{"key": n.config_key(i, f.path), "path": n.config_key(i, f.path), "mode": f.mode} for i, f in enumerate(svc.files)]
        volumes.append({"name": "files", "configMap": {"name": files_name, "items": items}})
        mounts += [{"name": "files", "mountPath": f.path, "subPath": n.config_key(i, f.path), "readOnly": True} for i, f in enumerate(svc.files)]
    for ref in svc.secrets:
        vol = n.dns_name("secret", ref.name)
        if all(v["name"] != vol for v in volumes):
            volumes.append({"name": vol, "secret": {"secretName": secret_names[ref.name], "defaultMode": 0o444}})
        mounts.append({"name": vol, "mountPath": ref.mount_path, "subPath": "value", "readOnly": True})
    for m in svc.volumes:
        mounts.append({"name": m.volume, "mountPath": m.path, **({"readOnly": True} if m.read_only else {})})
    if mounts:
        c["volumeMounts"] = mounts
    return c, volumes


def restore_containers(app: App, svc: Service, image: str) -> list[dict[str, Any]]:
    """Init containers that fill a migrated volume from its archives before the service starts.

    Only present while the app carries restores (portable migrate / restore); the script is
    idempotent and never overwrites a volume that already holds data.
    """
    out = []
    for volume in dict.fromkeys(m.volume for m in svc.volumes):
        archives = list(app.restores.get(volume, ()))
        if not archives:
            continue
        # a migration's sealed archives are fed by portable through the API server (feed.py);
        # only --plaintext-transit style archives named by URL are fetched by the script itself
        script = wait_script(volume, archives) if is_fed(archives) else render_restore_script(volume, FEED_MOUNT, archives)
        out.append({
            "name": n.dns_name("restore", volume),
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", script],
            "volumeMounts": [{"name": volume, "mountPath": FEED_MOUNT}],
            "securityContext": {"allowPrivilegeEscalation": False},
        })
    return out


def claim_spec(app: App, volume: str, storage_class: str | None) -> dict[str, Any]:
    size = app.manifest.volumes[volume].size_bytes
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": quantity(size)}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return spec


def workload(
    app: App,
    name: str,
    svc: Service,
    *,
    namespace: str,
    storage_class: str | None,
    pull_secrets: list[str],
    secret_names: dict[str, str],
    config_digest: str,
    restore_image: str = "busybox:1.36",
) -> dict[str, Any]:
    """The Deployment (stateless) or StatefulSet (with volumes) running service `name`."""
    revision = n.short_hash(svc.model_dump(mode="json"))
    labels = n.object_labels(app.name, name, {**app.labels, **svc.labels})
    selector = n.selector_labels(app.name, name)
    c, volumes = container(app, name, svc, n.dns_name(name, "files"), secret_names)
    pod_sc, c["securityContext"] = security_context(svc.user, runtime_security(svc))
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": seconds(svc.stop_grace_s, 0),
        "securityContext": pod_sc,
        "containers": [c],
        **{key: True for key, field in (("hostNetwork", "host_network"), ("hostPID", "host_pid"), ("hostIPC", "host_ipc")) if getattr(svc.security, field)},
    }
    if pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in pull_secrets]
    if volumes:
        pod["volumes"] = volumes
    restores = restore_containers(app, svc, restore_image)
    if restores:
        pod["initContainers"] = restores
    template_annotations = {n.REVISION: revision}
    if config_digest:
        template_annotations[n.CONFIG_DIGEST] = config_digest
    template = {"metadata": {"labels": labels, "annotations": template_annotations}, "spec": pod}
    spec: dict[str, Any] = {"selector": {"matchLabels": selector}}
    if svc.autoscale is None:
        spec["replicas"] = svc.replicas  # with an HPA the replica count is the HPA's to own
    spec["revisionHistoryLimit"] = 5
    if svc.is_stateful:
        kind, api = "StatefulSet", "apps/v1"
        spec.update(
            serviceName=name,
            podManagementPolicy="Parallel",
            updateStrategy={"type": "RollingUpdate"},
            persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Retain"},
            template=template,
            volumeClaimTemplates=[
                {"metadata": {"name": v, "labels": labels}, "spec": claim_spec(app, v, storage_class)}
                for v in dict.fromkeys(m.volume for m in svc.volumes)
            ],
        )
        immutable = {k: spec[k] for k in ("selector", "serviceName", "podManagementPolicy", "volumeClaimTemplates")}
    else:
        kind, api = "Deployment", "apps/v1"
        spec.update(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}, template=template)
        immutable = {"selector": spec["selector"]}
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {n.REVISION: revision, n.IMMUTABLE: n.short_hash(immutable)},
        },
        "spec": spec,
    }
