"""`portable restore` into an app deployed on a cluster: a one-shot pod per claim, the writers
scaled down meanwhile.

A migration fills new claims from inside (the init container of workload.restore_containers,
which never overwrites data). Restoring a backup over a deployed app replaces what its claims
hold, so the services that write to the volume are scaled to zero first (data.quiesce, which
waits until their pods are gone: a ReadWriteOnce claim is then free to mount), then for each
claim of the volume a helper pod mounts it read-write and is fed the archive through the API
server's exec stdin (as `kubectl cp` does), so no blob store has to be reachable from the
cluster. In the pod the archive's SHA-256 is checked before anything is removed, the claim
emptied, the archive unpacked and the restore marker written. The writers are scaled back to
their replicas in any case.
"""
from __future__ import annotations

import shlex
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from portable.data.archive import file_sha256, read_index
from portable.data.restore_script import MARKER
from portable.engine.progress import metered
from portable.errors import MigrationError, TargetError
from portable.manifest.app import App
from portable.providers.base import Progress
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.data import MOUNT, KubernetesData
from portable.providers.kubernetes.pod_exec import STDIN, open_exec, run_to_end
from portable.providers.kubernetes.translate import namespace_of

CHUNK = 1 << 18
SCRATCH = "/portable-scratch"  # an emptyDir: restore images need no writable /tmp
UPLOAD = f"{SCRATCH}/archive.tar.gz"


def restore_command(size: int, sha256: str, *, replace: bool, deleted: Sequence[str]) -> list[str]:
    """The helper's command: read exactly `size` bytes of archive from stdin (exec has no EOF
    on stdin), check it, then replace the volume's contents with it (in the working directory,
    the mounted claim)."""
    q = shlex.quote
    lines = [
        "set -eu",
        f"head -c {size} > {UPLOAD}",
        f"echo {q(sha256 + '  ' + UPLOAD)} | sha256sum -c - >/dev/null || {{ echo 'the archive does not match its checksum' >&2; exit 3; }}",
    ]
    if replace:
        lines.append("find . -mindepth 1 -maxdepth 1 ! -name lost+found -exec rm -rf {} +")
    lines.append(f"tar -xzf {UPLOAD} -C .")
    if deleted:
        lines.append("rm -rf -- " + " ".join(q(p) for p in deleted))
    lines += [f"rm -f {UPLOAD} .portable-index.json", f"touch {MARKER}-{sha256[:16]}"]
    return ["sh", "-c", "\n".join(lines)]


class KubernetesRestore(KubernetesData):
    """Mixed into KubernetesProvider: DataDestination for a deployed app (RESTORE_RUNNING)."""

    def restore_volume(self, app: App, volume: str, archive: Path, progress: Progress, *, sha256: str | None = None, replace: bool = False, delta: bool = False) -> None:
        """Replaces what every claim of `volume` holds with `archive`, its writers scaled down meanwhile."""
        sha = file_sha256(archive)
        if sha256 is not None and sha != sha256:
            raise MigrationError(f"archive {archive.name} does not match its checksum: it was changed or truncated; export it again")
        deleted = list(read_index(archive).get("deleted", [])) if delta else []
        ns = namespace_of(app, self.settings)
        claims = self._claims_of(app, ns, volume)
        if not claims:
            raise TargetError(f"volume {volume} of {app.name} has no claim in namespace {ns}: deploy the app first")
        stopped = self.quiesce(app)
        progress(f"volume {volume}: writers scaled to zero ({', '.join(stopped) or 'none'})")
        try:
            for claim in claims:
                self._restore_claim(app, ns, claim, archive, sha, replace=replace or not delta, deleted=deleted, progress=progress)
                progress(f"volume {volume}: claim {claim} restored (checksum verified in the pod)")
        finally:
            self.resume(app)
            progress(f"volume {volume}: writers scaled back")

    def _claims_of(self, app: App, ns: str, volume: str) -> list[str]:
        """The claims translate gives `volume`: `<volume>-<service>-<replica>` (translate.py)."""
        out = []
        for service in app.services_mounting(volume):
            for i in range(max(1, app.services[service].replicas)):
                claim = f"{volume}-{service}-{i}"
                if self.kube.get("PersistentVolumeClaim", ns, claim) is not None:
                    out.append(claim)
        return out

    def _restore_claim(self, app: App, ns: str, claim: str, archive: Path, sha: str, *, replace: bool, deleted: Sequence[str],
                       progress: Progress) -> None:
        pod_name = n.dns_name(f"{app.name}-restore", f"{claim}-{uuid.uuid4().hex[:5]}")
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": ns, "labels": {"portable.io/helper": app.name}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "restore", "image": self.settings.restore_image, "command": ["sleep", "3600"],
                                "workingDir": MOUNT, "volumeMounts": [{"name": "data", "mountPath": MOUNT}, {"name": "scratch", "mountPath": SCRATCH}]}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}, {"name": "scratch", "emptyDir": {}}],
                **self.settings.pod_placement(),
            },
        }
        self.kube.request("POST", self.kube.path("Pod", ns), what=f"pod {ns}/{pod_name}", verb="create", body=pod)
        try:
            self._wait_running(ns, pod_name)
            ws = self._open_exec_stdin(ns, pod_name, restore_command(archive.stat().st_size, sha, replace=replace, deleted=deleted))
            try:
                with open(archive, "rb") as fh:  # bytes and rate in the live table; nothing in plain mode
                    for chunk in metered(iter(lambda: fh.read(CHUNK), b""), progress, f"volume {claim} -> pod {pod_name}",
                                         total=archive.stat().st_size):
                        ws.write_channel(STDIN, chunk)
                code, said = run_to_end(ws)
            finally:
                ws.close()
            if code:
                raise TargetError(f"restoring claim {claim} in pod {ns}/{pod_name} failed (exit {code}): {said[:300]}")
        finally:
            self.kube.delete("Pod", ns, pod_name, propagation="Background")

    def _open_exec_stdin(self, ns: str, pod: str, command: list[str]) -> Any:
        return open_exec(self.kube, ns, pod, command, stdin=True, refused=f"cannot write volume data into pod {ns}/{pod}: the API server could not exec into it",
                         hint="exec needs a kubelet that runs the pod")
