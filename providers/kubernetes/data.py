"""Reading an app's data out of a cluster for migrate and backup; pausing its writers.

quiesce/resume scale the services that write to volumes to zero and back. export_volume
mounts the volume's claim read-only in a short-lived helper pod and streams a tar of it
through the API server's exec, the mechanism `kubectl cp` uses, so it works wherever exec
is allowed; it needs `tar` in the helper image (busybox has it). The helper works in the
mounted volume (its working directory) and the tar is taken of `.`, so the command names no
path of the container's file system. The stream's frames are read raw (binary-safe, pod_exec.py)
and handed on as they arrive: a volume is never held in memory.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from portable.engine import cancel
from portable.errors import MigrationError, TargetError
from portable.manifest.app import App
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.client import Kube, describe
from portable.providers.kubernetes.pod_exec import ERROR, STDERR, STDOUT, exit_status, frames, open_exec
from portable.providers.kubernetes.settings import KubernetesSettings
from portable.providers.kubernetes.translate import namespace_of

MOUNT = "/portable-volume"


def _writers(app: App) -> dict[str, str]:
    """service -> workload kind, for services that mount a volume read-write."""
    return {
        name: "StatefulSet" if app.services[name].is_stateful else "Deployment" for name in app.volume_writers()
    }


class KubernetesData:
    """Mixed into KubernetesProvider: the data hooks the migration engine looks for."""

    kube: Kube
    settings: KubernetesSettings

    def _scale(self, app: App, replicas_of: dict[str, int]) -> list[str]:
        ns = namespace_of(app, self.settings)
        done = []
        for name, kind in _writers(app).items():
            body = {"spec": {"replicas": replicas_of.get(name, 0)}}
            self.kube.request("PATCH", self.kube.path(kind, ns, name) + "/scale", what=describe(kind, name, ns),
                              verb="scale", body=body, content_type="application/merge-patch+json")
            done.append(f"{kind}/{name}")
        return done

    def quiesce(self, app: App) -> list[str]:
        """Scales the writers to zero and waits until their pods are gone (bounded)."""
        scaled = self._scale(app, {})
        ns = namespace_of(app, self.settings)
        deadline = time.monotonic() + 120
        for name in _writers(app):
            selector = ",".join(f"{k}={v}" for k, v in n.selector_labels(app.name, name).items())
            while self.kube.list("Pod", ns, selector):
                if time.monotonic() > deadline:
                    raise TargetError(f"the pods of {name} in {ns} did not stop within 120s; the copy would not be consistent")
                cancel.pause(1)
        return scaled

    def resume(self, app: App) -> list[str]:
        return self._scale(app, {name: svc.replicas for name, svc in app.services.items()})

    def export_volume(self, app: App, volume: str) -> tuple[Iterator[bytes], str]:
        """A tar stream of the volume (its first replica's claim) read through a helper pod."""
        ns = namespace_of(app, self.settings)
        users = app.services_mounting(volume)
        if not users:
            raise MigrationError(f"no service of {app.name} mounts volume {volume}")
        claim = f"{volume}-{users[0]}-0"
        if self.kube.get("PersistentVolumeClaim", ns, claim) is None:
            raise MigrationError(f"volume {volume} has no claim {claim} in namespace {ns}")
        pod_name = n.dns_name(f"{app.name}-export", f"{volume}-{uuid.uuid4().hex[:5]}")
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": ns, "labels": {"portable.io/helper": app.name}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "export", "image": self.settings.restore_image, "command": ["sleep", "3600"],
                                "workingDir": MOUNT,
                                "volumeMounts": [{"name": "data", "mountPath": MOUNT, "readOnly": True}]}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}],
                **self.settings.pod_placement(),
            },
        }
        self.kube.request("POST", self.kube.path("Pod", ns), what=f"pod {ns}/{pod_name}", verb="create", body=pod)
        try:
            self._wait_running(ns, pod_name)
            ws = self._open_exec(ns, pod_name, ["tar", "cf", "-", "."])
        except BaseException:
            self.kube.delete("Pod", ns, pod_name, propagation="Background")
            raise

        def stream() -> Iterator[bytes]:
            try:
                yield from self._read_stdout(ws, ns, pod_name)
            finally:
                self.kube.delete("Pod", ns, pod_name, propagation="Background")

        return stream(), MOUNT.strip("/")

    def _wait_running(self, ns: str, pod: str) -> None:
        deadline = time.monotonic() + 120
        delay = 0.1  # a helper usually starts within a second: poll fast, then back off
        while True:
            obj = self.kube.get("Pod", ns, pod) or {}
            if (obj.get("status") or {}).get("phase") == "Running":
                return
            if time.monotonic() > deadline:
                raise TargetError(f"the export pod {ns}/{pod} did not start within 120s (phase {(obj.get('status') or {}).get('phase')})")
            cancel.pause(delay)
            delay = min(delay * 1.5, 1.0)

    def _open_exec(self, ns: str, pod: str, command: list[str]) -> Any:
        """The exec websocket (opened but not read), its refusal turned into one sentence."""
        return open_exec(self.kube, ns, pod, command, refused=f"cannot read volume data from pod {ns}/{pod}: the API server could not exec into it",
                         hint="exec needs a kubelet that runs the pod (and, on kwok, an Exec for it)")

    @staticmethod
    def _read_stdout(ws: Any, ns: str, pod: str) -> Iterator[bytes]:
        """The command's stdout, frame by frame as it arrives; its exit status checked at the end."""
        errors: list[bytes] = []
        status: bytes = b""
        try:
            for channel, payload in frames(ws):
                if channel == STDOUT and payload:
                    yield payload
                elif channel == STDERR:
                    errors.append(payload)
                elif channel == ERROR:
                    status += payload
        finally:
            ws.close()
        code, message = exit_status(status)
        if code:
            said = b"".join(errors).decode("utf-8", "replace").strip() or message
            raise TargetError(f"reading volume data in pod {ns}/{pod} failed (exit {code}): {said[:300]}")
