"""Stopping and starting the writers of an app's volumes inside its vSphere VMs (QUIESCE).

The VM bootstrap runs each service as the docker container `vm-<app>-<service>` in its VM
(providers/vm/bootstrap.py). `quiesce` stops that container in every powered-on VM of the
services that write to volumes, through VMware Tools' guest operations with the guest OS
account the export already uses (data.py): no network path to the VM, no SSH key. `resume`
starts them again. Both converge: a container already stopped (or already running) is left
as it is, so a migration resumed after a crash may run either step again.

Planning with `--quiesce` checks, before anything changes, that the guest account is set
(exit 2 naming the variables otherwise) and that each writer's VM answers with docker and
the service's container present: a guest where nothing could be stopped is refused then,
not after the copy began.
"""
from __future__ import annotations

import shlex

from portable.errors import TargetError
from portable.manifest.app import App
from portable.providers.vm.bootstrap import container_name
from portable.providers.vsphere.data import VsphereData, guest_auth
from portable.providers.vsphere.ownership import OwnedVm

NO_DOCKER = 4  # exit codes of guest_script, read back as sentences
NO_CONTAINER = 5


def guest_script(container: str, verb: str, grace_s: int = 10) -> str:
    """sh run in the guest: `verb` is stop, start or check; stop and start do nothing when the
    container is already in the state asked for."""
    c = shlex.quote(container)
    lines = [
        f"command -v docker >/dev/null 2>&1 || exit {NO_DOCKER}",
        f"running=$(docker inspect -f '{{{{.State.Running}}}}' {c} 2>/dev/null) || exit {NO_CONTAINER}",
    ]
    if verb == "stop":
        lines.append(f'if [ "$running" = true ]; then docker stop -t {int(grace_s)} {c} >/dev/null; fi')
    elif verb == "start":
        lines.append(f'if [ "$running" != true ]; then docker start {c} >/dev/null; fi')
    return "\n".join(lines) + "\n"


class VsphereQuiesce(VsphereData):
    """Mixed into VsphereProvider: the Quiescer role, through guest operations."""

    def _writer_vms(self, app: App) -> list[OwnedVm]:
        writers = set(app.volume_writers())
        vms = [vm for vm in self.marks.owned_vms(app.name) if vm.service in writers and vm.power_state == "poweredOn"]
        return sorted(vms, key=lambda vm: (vm.service, vm.replica, vm.name))

    def _in_writers(self, app: App, verb: str, doing: str) -> list[str]:
        auth = guest_auth(self.settings)
        done: list[str] = []
        for owned in self._writer_vms(app):
            name = container_name({"app": app.name, "service": owned.service})
            grace = int(app.services[owned.service].stop_grace_s) if owned.service in app.services else 10
            what = f"{doing} container {name} in VM {owned.name}"
            code = self._guest_exit_code(owned, auth, guest_script(name, verb, grace), what)
            if code == NO_DOCKER:
                raise TargetError(f"{what}: the guest has no `docker` command",
                                  hint="--quiesce stops the container the portable VM bootstrap runs; copy without --quiesce for other guests")
            if code == NO_CONTAINER:
                raise TargetError(f"{what}: the guest runs no container {name}",
                                  hint="--quiesce stops the container the portable VM bootstrap runs; has its bootstrap run?")
            if code != 0:
                raise TargetError(f"{what} failed in the guest (exit {code})")
            done.append(f"{name} in VM {owned.name}")
        return done

    def quiesce(self, app: App) -> list[str]:
        """Stops the writers' containers in every VM of theirs; returns what was stopped."""
        return self._in_writers(app, "stop", "stopping")

    def resume(self, app: App) -> list[str]:
        """Starts again the writers' containers `quiesce` stopped."""
        return self._in_writers(app, "start", "starting")

    def check_data_channel(self, app: App, *, quiesce: bool) -> str:
        """The export's check (data.py), and with `quiesce` each writer's VM answers with docker
        and its service's container: read only, nothing is stopped."""
        said = super().check_data_channel(app, quiesce=quiesce)
        if not quiesce:
            return said
        checked = self._in_writers(app, "check", "looking for")
        return f"{said}; writers to stop: {', '.join(checked) or 'none'}"
