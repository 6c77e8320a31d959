"""`portable exec` on Kubernetes: the pod exec subresource, through the SDK's stream API.

Replica N is the N-th running pod of the service by name (a StatefulSet's `<name>-<N-1>`),
the container the one named after the service. The exec stream is pod_exec.py's: frames
handed on as they come, the exit code from the status the server sends. Stdin is not offered: the
exec protocol the SDK speaks cannot half-close it, so a piped command would never see EOF.
"""
from __future__ import annotations

import re
from typing import Any

from portable.errors import InputError
from portable.manifest.app import App
from portable.providers.base import ExecIO
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.client import Kube
from portable.providers.kubernetes.pod_exec import ERROR, STDERR, STDOUT, exit_status, frames, open_exec
from portable.providers.kubernetes.settings import KubernetesSettings
from portable.providers.kubernetes.translate import namespace_of


def _pod(kube: Kube, app: App, namespace: str, service: str, replica: int) -> dict[str, Any]:
    if service not in app.services:
        raise InputError(f"no service named {service} in {app.name}; services: {', '.join(sorted(app.services))}")
    pods = [p for p in kube.list("Pod", namespace, n.app_selector(app.name))
            if p["metadata"].get("labels", {}).get(n.NAME) == service and not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") == "Running"]
    pods.sort(key=lambda p: str(p["metadata"]["name"]))
    if not 1 <= replica <= len(pods):
        names = ", ".join(str(p["metadata"]["name"]) for p in pods) or "none"
        raise InputError(f"{service} has no running replica {replica} on target {app.target_name} (running pods: {names})",
                         hint="portable status shows the replicas; deploy first if there are none")
    return pods[replica - 1]


def exec_in(kube: Kube, settings: KubernetesSettings, app: App, service: str, replica: int, command: list[str], io: ExecIO) -> int:
    if io.stdin is not None or io.tty:
        raise InputError("portable exec -i/-t is not offered on Kubernetes targets: run the command without them (kubectl exec -it works on the same pod)")
    ns = namespace_of(app, settings)
    pod = _pod(kube, app, ns, service, replica)
    name = str(pod["metadata"]["name"])
    containers = [str(c["name"]) for c in pod.get("spec", {}).get("containers", [])]
    container = service if service in containers else containers[0]
    ws = open_exec(kube, ns, name, command, container=container, refused=f"cannot exec into pod {ns}/{name}: the API server refused",
                   hint="exec needs a kubelet that runs the pod")
    status = b""
    try:
        for channel, payload in frames(ws):
            if channel == STDOUT and payload:
                io.out(payload)
            elif channel == STDERR and payload:
                io.err(payload)
            elif channel == ERROR:
                status += payload
    finally:
        ws.close()
    code, message = exit_status(status)
    if code and not re.search(r"exit (code|status)|NonZeroExitCode", message + status.decode("utf-8", "replace")):
        io.err(f"portable: {message}\n".encode())  # the command did not start (no such file, ...)
    return code


class KubernetesExec:
    """The Executor role (Capability.EXEC) of the kubernetes provider."""

    kube: Kube
    settings: KubernetesSettings

    def exec_in(self, app: App, service: str, replica: int, command: list[str], io: ExecIO) -> int:
        return exec_in(self.kube, self.settings, app, service, replica, command, io)
