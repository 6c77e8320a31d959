"""The data roles of a VM target over SSH: export, quiesce/resume, restore and the plan-time check.

aws and libcloud list their running instances as `Host`s and hand them here; the channel
(ssh.py) logs in. The VM bootstrap (bootstrap.py) keeps each volume at
/var/lib/portable/volumes/<volume> and runs each service as the container
`vm-<app>-<service>`, which is all these need:

* export streams `tar -C /var/lib/portable/volumes/<volume> -cf - .` out of the channel (the
  core writes the checksummed archive from it, as for every other source);
* quiesce runs `docker stop vm-<app>-<service>` on every instance of a writer, resume
  `docker start`;
* restore (`portable restore`) stops the container, empties the volume, unpacks the checked
  archive stream with `tar -x`, starts the container again;
* `check` (while planning) logs in to every instance these need and proves the volume
  directories are there, so a missing channel fails before anything changes (exit 2).

After planning, losing the channel is a failed operation (exit 1, a migration resumes when
rerun), not bad input.
"""
from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from portable.data.archive import restore_tar_stream
from portable.engine.progress import metered
from portable.errors import InputError, TargetError
from portable.manifest.app import App
from portable.providers.vm.ssh import AS_ROOT, Host, SshChannel

VOLUMES_DIR = "/var/lib/portable/volumes"  # where bootstrap.py mounts each volume on the VM
# GNU tar exits 1 when a file changed while it was read: a copy made while the service serves
TAR_WARNINGS = ("file changed as we read it", "file removed before we read it", "socket ignored")


def volume_dir(volume: str) -> str:
    return f"{VOLUMES_DIR}/{volume}"


def container_of(app: App, service: str) -> str:
    """The service's container on its VM, as bootstrap.py names it."""
    return f"vm-{app.name}-{service}"


def _tar_ok(code: int, stderr: str) -> bool:
    if code == 0:
        return True
    lines = [line for line in stderr.splitlines() if line.strip()]
    return code == 1 and bool(lines) and all(any(w in line for w in TAR_WARNINGS) for line in lines)


def source_host(app: App, volume: str, hosts: Sequence[Host], target: str) -> Host:
    """The instance whose copy of `volume` is read: replica 0 of the service mounting it."""
    users = app.services_mounting(volume)
    if not users:
        raise TargetError(f"no service of {app.name} mounts volume {volume}")
    mine = [h for h in hosts if h.service == users[0]]
    if not mine:
        raise TargetError(f"service {users[0]} of {app.name} has no running instance on target {target} to read volume {volume} from")
    return min(mine, key=lambda h: (h.replica, h.id))


def _operating(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks`, with the channel's setting errors turned into TargetError (see `_failing`)."""
    with _failing():
        yield from chunks


@contextmanager
def _failing() -> Iterator[None]:
    """After planning proved the channel, losing it mid-copy is a failed operation (exit 1, the
    migration resumes when rerun), not bad input: the sentence naming the setting is kept."""
    try:
        yield
    except InputError as exc:
        raise TargetError(exc.message, hint=exc.hint) from None


class SshData:
    """DataSource, Quiescer and DataChannel of a VM target, over `SshChannel`."""

    def __init__(self, channel: SshChannel) -> None:
        self.channel = channel

    def export(self, app: App, volume: str, hosts: Sequence[Host]) -> tuple[Iterator[bytes], str]:
        """A tar stream of the volume's files (members `./...`) and the empty prefix they carry."""
        host = source_host(app, volume, hosts, self.channel.target)
        command = f"{AS_ROOT} $S tar -C {shlex.quote(volume_dir(volume))} -cf - ."
        return _operating(self.channel.stream(host, command, f"reading volume {volume} over SSH", _tar_ok)), ""

    def _docker_on(self, app: App, hosts: Sequence[Host], verb: str) -> list[str]:
        writers = set(app.volume_writers())
        done: list[str] = []
        for host in sorted(hosts, key=lambda h: (h.service, h.replica)):
            if host.service not in writers:
                continue
            name = container_of(app, host.service)
            grace = f" -t {int(app.services[host.service].stop_grace_s)}" if verb == "stop" else ""
            with _failing(), self.channel.connect(host) as transport:
                code, _out, err = self.channel.run(transport, f"{AS_ROOT} $S docker {verb}{grace} {shlex.quote(name)}", f"docker {verb} {name} on instance {host.id}")
            if code != 0:
                raise TargetError(f"`docker {verb} {name}` failed on instance {host.id} (exit {code}): {err.strip()[-300:] or 'no message'}")
            done.append(f"{name} on {host.id}")
        return done

    def quiesce(self, app: App, hosts: Sequence[Host]) -> list[str]:
        """Stops every writer's container on every instance; returns what was stopped."""
        return self._docker_on(app, hosts, "stop")

    def resume(self, app: App, hosts: Sequence[Host]) -> list[str]:
        return self._docker_on(app, hosts, "start")

    def restore(self, app: App, volume: str, archive: Path, hosts: Sequence[Host], progress: Callable[[str], None], *, sha256: str | None, replace: bool) -> None:
        """`portable restore` into the running app: on every instance of the service mounting
        `volume`, its container is stopped, the volume directory emptied and refilled from the
        archive (checked while it streams: a mismatch stops the copy with the error), and the
        container started again, whatever happened."""
        users = app.services_mounting(volume)
        mine = sorted((h for h in hosts if h.service in users), key=lambda h: (h.service, h.replica, h.id))
        if not mine:
            raise TargetError(f"no service of {app.name} with volume {volume} has a running instance on target {self.channel.target}")
        directory = shlex.quote(volume_dir(volume))
        for host in mine:
            name = shlex.quote(container_of(app, host.service))
            with _failing(), self.channel.connect(host) as transport:
                if not replace:
                    code, out, _err = self.channel.run(transport, f"{AS_ROOT} $S ls -A {directory}", f"looking into volume {volume} on instance {host.id}")
                    if code != 0 or out.strip():
                        raise TargetError(f"volume {volume} on instance {host.id} already holds data; not overwriting it", hint="use `portable restore` to replace its contents")
                progress(f"restoring volume {volume} on instance {host.id} over SSH ({name} stopped meanwhile)")
                code, _out, err = self.channel.run(transport, f"{AS_ROOT} $S docker stop -t {int(app.services[host.service].stop_grace_s)} {name}", f"docker stop {name} on instance {host.id}")
                if code != 0:
                    raise TargetError(f"`docker stop {name}` failed on instance {host.id} (exit {code}): {err.strip()[-300:] or 'no message'}")
                try:
                    code, _out, err = self.channel.run(transport, f"{AS_ROOT} $S find {directory} -mindepth 1 -delete", f"emptying volume {volume} on instance {host.id}")
                    if code != 0:
                        raise TargetError(f"could not empty volume {volume} on instance {host.id} (exit {code}): {err.strip()[-300:]}")
                    self.channel.feed(transport, f"{AS_ROOT} $S tar -C {directory} -xf -", metered(restore_tar_stream(archive, sha256), progress, f"volume {volume} -> instance {host.id}"),
                                      f"writing volume {volume} on instance {host.id}")
                finally:
                    self.channel.run(transport, f"{AS_ROOT} $S docker start {name}", f"docker start {name} on instance {host.id}")

    def check(self, app: App, volumes: Sequence[str], hosts: Sequence[Host], *, quiesce: bool) -> str:
        """Logs in to every instance export (and quiesce) would use and looks for the volume directories."""
        needed: dict[str, tuple[Host, list[str]]] = {}
        for volume in volumes:
            host = source_host(app, volume, hosts, self.channel.target)
            needed.setdefault(host.id, (host, []))[1].append(volume)
        if quiesce:
            for host in hosts:
                if host.service in app.volume_writers():
                    needed.setdefault(host.id, (host, []))
        for host, vols in needed.values():
            with self.channel.connect(host) as transport:
                probe = " && ".join([AS_ROOT.rstrip(";"), *(f"$S test -d {shlex.quote(volume_dir(v))}" for v in vols), "echo ok"])
                code, out, err = self.channel.run(transport, probe, f"looking for the volumes on instance {host.id}")
            if code != 0 or out.strip() != "ok":
                missing = ", ".join(volume_dir(v) for v in vols)
                raise TargetError(f"instance {host.id} of service {host.service} has no {missing} (or the login user may not read it without sudo): its bootstrap may not have run; `portable logs` shows its console{': ' + err.strip()[-200:] if err.strip() else ''}")
        return f"SSH to {len(needed)} instance(s) of target {self.channel.target} as {self.channel.settings.user}"
