"""A migration's archives written into a new node over SSH while its bootstrap waits for them.

The archives of a migration are sealed (AES-256-GCM) with a key that stays on the machine
running portable, and a VM's first boot cannot open them: fetching an unsealed copy by URL
(`--plaintext-transit`) puts a bearer credential for the data in the user data. With the SSH
channel a libcloud target already has for its data roles and secrets, the node's bootstrap
instead waits (bootstrap.fed_wait_step, after its data disks are mounted) and the provider,
once the node answers, streams each opened archive's files into the volume directory as a
tar checked while it streams (the same stream `portable restore` sends), then the marker
that lets the bootstrap go on and start the service. The user data names the archives by
checksum only.
"""
from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from portable.data.archive import restore_tar_stream
from portable.data.fed_restore import ALREADY_DONE, NOT_OVER_DATA, begin_lines, deleted_lines, end_lines, final_marker
from portable.data.restore_script import is_fed
from portable.engine.progress import metered
from portable.errors import TargetError
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.vm.bootstrap import RESTORE_WAITING
from portable.providers.vm.secret_push import GUEST_ROOT, NOT_STARTED, until_written
from portable.providers.vm.ssh_data import volume_dir


def fed_volumes(app: App, group: Resource) -> dict[str, list[Mapping[str, Any]]]:
    """volume -> the archives this group's nodes wait for (the volumes its service mounts)."""
    mounted = [str(v["volume"]) for v in group.spec.get("volumes") or []]
    return {v: list(app.restores[v]) for v in mounted if is_fed(app.restores.get(v, ()))}


def _begin(volume: str, marker: str) -> str:
    q = shlex.quote
    waiting = f"{GUEST_ROOT}/{RESTORE_WAITING}{volume}"
    return "\n".join([f"[ -e {q(waiting)} ] || {{ [ -e {q(volume_dir(volume))}/{q(marker)} ] && exit {ALREADY_DONE}; exit {NOT_STARTED}; }}",
                      f"cd {q(volume_dir(volume))}", *begin_lines(marker)])


def push_archives(
    channel: Any,  # providers.vm.ssh.SshChannel
    app: App,
    group: Resource,
    hosts: Sequence[Any],  # providers.vm.ssh.Host, one per new node
    *,
    timeout: float,
    pause: Callable[[float], None],
    progress: Callable[[str], None],
) -> None:
    """Writes the group's fed archives into each new node once its bootstrap waits for them;
    TargetError naming the node when one does not within `timeout` seconds."""
    volumes = fed_volumes(app, group)
    if not volumes:
        return
    from portable.providers.vm.ssh import AS_ROOT

    deadline = time.monotonic() + timeout
    for host in hosts:
        for volume, archives in volumes.items():
            until_written(channel, host, lambda t, h=host, v=volume, arch=archives: _feed_one(channel, t, AS_ROOT, h, group.name, v, arch, progress),
                          deadline=deadline, pause=pause, waiting="its bootstrap had not reached the volume",
                          failed=f"could not write volume {volume} of {group.name} to node {host.id} over SSH within {timeout:.0f}s")

def _feed_one(channel: Any, transport: Any, as_root: str, host: Any, group: str, volume: str, archives: Sequence[Mapping[str, Any]],
              progress: Callable[[str], None]) -> bool:
    """One attempt on one node: False while its bootstrap has not reached the volume."""
    q = shlex.quote
    marker = final_marker(archives)
    code, _out, err = channel.run(transport, f"{as_root} $S sh -c {q(_begin(volume, marker))}", f"preparing volume {volume} on node {host.id}")
    if code == NOT_STARTED:
        return False
    if code == ALREADY_DONE:
        progress(f"{group}: volume {volume} already restored on {host.id}")
        return True
    if code == NOT_OVER_DATA:
        progress(f"{group}: volume {volume} on {host.id} already holds data; not restored over it")
        return True
    if code != 0:
        raise TargetError(f"could not prepare volume {volume} on node {host.id} (exit {code}): {err.strip()[-300:] or 'no message'}")
    directory = q(volume_dir(volume))
    for i, archive in enumerate(archives):
        path = Path(str(archive["local"]))
        chunks = metered(restore_tar_stream(path, str(archive["sha256"])), progress, f"volume {volume} -> node {host.id}")
        channel.feed(transport, f"{as_root} $S tar -C {directory} -xf -", chunks, f"writing volume {volume} on node {host.id}")
        tail = deleted_lines([str(p) for p in archive.get("deleted") or []]) + (end_lines(marker) if i == len(archives) - 1 else [])
        if tail:
            script = "\n".join([f"cd {directory}", *tail])
            code, _out, err = channel.run(transport, f"{as_root} $S sh -c {q(script)}", f"finishing volume {volume} on node {host.id}")
            if code != 0:
                raise TargetError(f"could not finish volume {volume} on node {host.id} (exit {code}): {err.strip()[-300:] or 'no message'}")
    progress(f"{group}: volume {volume} written to {host.id} over SSH ({len(archives)} archive(s), checked as they streamed)")
    return True

