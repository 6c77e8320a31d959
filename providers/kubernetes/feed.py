"""Migrated volumes fed through the API server: the new pods' init containers wait, portable
writes the opened archives into them.

A migration's archives are sealed (AES-256-GCM, portable/data/sealed.py) with a key that stays
on the machine running portable. No init container could open them, and an unsealed copy in a
blob store whose URL sits in the StatefulSet's spec is a bearer credential for the data. So
the init container of a migrated volume only waits (`wait_script`), and while the rollout is
awaited the provider finds each pod whose init container waits and streams the archives,
opened here, into it through exec stdin, the mechanism `kubectl cp` uses (restore.py does the
same for a helper pod). The spec names the archives by checksum only: the key, the plaintext
and any URL never reach the cluster, and no blob store has to be reachable from it.

Idempotent as the URL script was: a marker named after the last archive's checksum ends the
wait at once on a restarted pod, and a claim that already holds data (not left half-fed by
portable) is never written over.
"""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from portable.data.fed_restore import ALREADY_DONE, NOT_OVER_DATA, begin_lines, deleted_lines, end_lines, final_marker, wait_lines
from portable.data.restore_script import is_fed
from portable.engine.progress import metered
from portable.errors import MigrationError, TargetError
from portable.manifest.app import App
from portable.providers.base import Progress
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.client import Kube
from portable.providers.kubernetes.pod_exec import STDIN, open_exec, run_to_end

MOUNT = "/portable-restore"  # where the init container mounts the claim
UPLOAD = ".portable-upload"
CHUNK = 1 << 18


def wait_script(volume: str, archives: Sequence[Mapping[str, Any]]) -> str:
    """The init container's sh: done when restored or when the claim holds data; else wait
    (bounded) for portable to write the last archive's marker."""
    return "\n".join(["set -eu", 'give_up() { echo "portable: $*" >&2; exit 1; }',
                      *wait_lines(volume, archives, MOUNT, channel="through the API server", give_up="give_up")]) + "\n"


def feed_command(archive: Mapping[str, Any], size: int, *, first: bool, last: bool, marker: str) -> list[str]:
    """Run in the waiting init container, fed `size` bytes of plaintext archive on stdin (exec
    has no EOF on stdin, so exactly that many are read): check it, unpack it into the claim,
    remove a delta's deleted paths; after the last one, the marker that ends the wait."""
    q = shlex.quote
    sha = str(archive["sha256"])
    lines = ["set -eu", f"cd {MOUNT}", *(begin_lines(marker) if first else [])]
    lines += [
        f"head -c {size} > {UPLOAD}",
        f"echo {q(sha + '  ' + UPLOAD)} | sha256sum -c - >/dev/null || {{ rm -f {UPLOAD}; echo 'the archive does not match its checksum' >&2; exit 3; }}",
        f"tar -xzf {UPLOAD} -C .",
        f"rm -f {UPLOAD}",
        *deleted_lines([str(p) for p in (archive.get("deleted") or [])]),
        *(end_lines(marker) if last else []),
    ]
    return ["sh", "-c", "\n".join(lines)]


class RestoreFeeder:
    """Feeds the waiting init containers of one workload's pods; `step` is called between the
    rollout's polls, so the rollout's own timeout bounds it."""

    def __init__(self, kube: Kube, namespace: str, selector: str, restores: Mapping[str, Sequence[Mapping[str, Any]]],
                 progress: Progress) -> None:
        self.kube, self.namespace, self.selector, self.progress = kube, namespace, selector, progress
        self.by_container = {n.dns_name("restore", volume): volume for volume in restores}
        self.restores = restores
        self.fed: set[tuple[str, str, int]] = set()
        self.failures: dict[tuple[str, str, int], int] = {}

    def step(self) -> None:
        for pod in self.kube.list("Pod", self.namespace, self.selector):
            meta, status = pod.get("metadata") or {}, pod.get("status") or {}
            for st in status.get("initContainerStatuses") or []:
                volume = self.by_container.get(str(st.get("name")))
                if volume is None or "running" not in (st.get("state") or {}):
                    continue
                key = (str(meta.get("uid")), str(st["name"]), int(st.get("restartCount") or 0))
                if key in self.fed:
                    continue
                try:
                    self._feed(str(meta["name"]), str(st["name"]), volume)
                except TargetError:
                    # the container may have ended between the list and the exec (it found data)
                    self.failures[key] = self.failures.get(key, 0) + 1
                    if self.failures[key] >= 3:
                        raise
                    continue
                self.fed.add(key)

    def _feed(self, pod: str, container: str, volume: str) -> None:
        archives = list(self.restores[volume])
        marker = final_marker(archives)
        for i, archive in enumerate(archives):
            path = Path(str(archive["local"]))
            size = path.stat().st_size
            command = feed_command(archive, size, first=i == 0, last=i == len(archives) - 1, marker=marker)
            ws = open_exec(self.kube, self.namespace, pod, command, stdin=True, container=container,
                           refused=f"cannot write volume {volume} into pod {self.namespace}/{pod}: the API server could not exec into its init container",
                           hint="exec needs a kubelet that runs the pod")
            try:
                with open(path, "rb") as fh:  # bytes and rate in the live table; nothing in plain mode
                    for chunk in metered(iter(lambda: fh.read(CHUNK), b""), progress=self.progress, transfer=f"volume {volume} -> pod {pod}", total=size):
                        ws.write_channel(STDIN, chunk)
                code, said = run_to_end(ws)
            finally:
                ws.close()
            if code == ALREADY_DONE:
                return
            if code == NOT_OVER_DATA:
                self.progress(f"volume {volume}: claim of pod {pod} already holds data; not restored over it")
                return
            if code == 3:
                raise MigrationError(f"the {archive.get('phase', '')} archive of volume {volume} does not match its checksum in pod {pod}: it was changed or truncated; run the migration again")
            if code:
                raise TargetError(f"restoring volume {volume} in pod {self.namespace}/{pod} failed (exit {code}): {said[:300]}")
        self.progress(f"volume {volume}: {len(archives)} archive(s) written into pod {pod} (checksums verified in the pod)")


def feeder_for(kube: Kube, namespace: str, obj: Mapping[str, Any], app: App, service: str | None, progress: Progress) -> RestoreFeeder | None:
    """The feeder of a workload whose pods wait for a migration's archives, else None."""
    if service is None or service not in app.services:
        return None
    volumes = dict.fromkeys(m.volume for m in app.services[service].volumes)
    restores = {v: app.restores[v] for v in volumes if is_fed(app.restores.get(v, ()))}
    if not restores:
        return None
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return RestoreFeeder(kube, namespace, selector, restores, progress)
