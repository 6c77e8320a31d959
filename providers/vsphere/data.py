"""Reading an app's volume data out of its vSphere VMs, for migrate and backup.

Through VMware Tools' guest operations: vCenter relays them to the guest, so no network
path to the VM and no SSH key are needed, only the guest OS account the template was built
with (read from the environment variables the target names). The VM bootstrap keeps each
volume at `$PORTABLE_ROOT/volumes/<volume>`; export runs `tar` there in the guest, then
downloads the archive through vCenter's guest file transfer and removes it from the guest.

Stopping the writers inside the guests (quiesce) goes through the same channel: see quiesce.py.
"""
from __future__ import annotations

import os
import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

from pyVmomi import vim

from portable.engine import cancel
from portable.errors import InputError, MigrationError, TargetError
from portable.manifest.app import App
from portable.providers.vsphere.connection import Session, ssl_context
from portable.providers.vsphere.ownership import Marks, OwnedVm
from portable.providers.vsphere.settings import VsphereSettings

GUEST_ROOT = '"${PORTABLE_ROOT:-/var/lib/portable}"'  # as the bootstrap sets it (providers/vm/bootstrap.py)
TAR_TIMEOUT = 1800.0
CHUNK = 1 << 20


def guest_auth(settings: VsphereSettings, env: dict[str, str] | None = None) -> Any:
    """The guest OS account from the environment; its password is never shown."""
    env = dict(os.environ) if env is None else env
    user, password = env.get(settings.guest_user_env), env.get(settings.guest_password_env)
    if not user or not password:
        raise InputError(
            f"reading volumes inside the VMs needs the guest OS account VMware Tools runs commands as: "
            f"set {settings.guest_user_env} and {settings.guest_password_env}",
            hint="the account must be able to read /var/lib/portable/volumes",
        )
    return vim.vm.guest.NamePasswordAuthentication(username=user, password=password, interactiveSession=False)


def transfer_url(url: str, settings: VsphereSettings) -> str:
    """vCenter answers `https://*/...` meaning "the host you are connected to"."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname == "*":
        parts = parts._replace(netloc=f"{settings.host}:{parts.port or settings.port}")
    return urllib.parse.urlunsplit(parts)


class VsphereData:
    """Mixed into VsphereProvider: the export hook the migration engine looks for."""

    session: Session
    marks: Marks
    settings: VsphereSettings

    def _source_vm(self, app: App, volume: str) -> OwnedVm:
        users = app.services_mounting(volume)
        if not users:
            raise MigrationError(f"no service of {app.name} mounts volume {volume}")
        vms = [vm for vm in self.marks.owned_vms(app.name) if vm.service == users[0] and vm.power_state == "poweredOn"]
        if not vms:
            raise MigrationError(f"service {users[0]} of {app.name} has no powered-on VM on {self.session.where} to read volume {volume} from")
        return min(vms, key=lambda vm: (vm.replica, vm.name))

    def export_volume(self, app: App, volume: str) -> tuple[Iterator[bytes], str]:
        """A tar stream of the volume's files (paths relative to the volume) read inside the guest."""
        auth = guest_auth(self.settings)
        owned = self._source_vm(app, volume)
        manager = self.session.content.guestOperationsManager
        archive = f"/tmp/portable-export-{volume}-{uuid.uuid4().hex[:8]}.tar.gz"
        self._run_in_guest(owned, auth, f"tar czf {archive} -C {GUEST_ROOT}/volumes/{shlex.quote(volume)} .",
                           f"packing volume {volume} in VM {owned.name}")
        try:
            info = self.session.call(f"starting the download of volume {volume} from VM {owned.name}",
                                     lambda: manager.fileManager.InitiateFileTransferFromGuest(owned.vm, auth, archive))
            response = self._open(transfer_url(info.url, self.settings), owned.name)
        except BaseException:
            self._remove_in_guest(owned, auth, archive)
            raise

        def stream() -> Iterator[bytes]:
            gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                with response:
                    while chunk := response.read(CHUNK):
                        yield gunzip.decompress(chunk)
                yield gunzip.flush()
            except zlib.error as exc:
                raise TargetError(f"the archive of volume {volume} downloaded from VM {owned.name} is corrupt: {exc}") from None
            finally:
                self._remove_in_guest(owned, auth, archive)

        return stream(), ""

    def check_data_channel(self, app: App, *, quiesce: bool) -> str:
        """DATA_CHANNEL, while planning a migration or backup from vSphere: the guest account is
        set and accepted by the guest of each VM the export reads, and its Tools answer; a
        missing account is an InputError naming the variables, before anything changes."""
        auth = guest_auth(self.settings)
        volumes = [v for v in app.manifest.volumes if app.services_mounting(v)]
        checked = {}
        for volume in volumes:
            owned = self._source_vm(app, volume)
            if owned.name not in checked:
                self._run_in_guest(owned, auth, "true", f"checking guest operations in VM {owned.name}")
                checked[owned.name] = volume
        return f"guest operations answer in {', '.join(checked) or 'no VM'}"

    def _run_in_guest(self, owned: OwnedVm, auth: Any, command: str, what: str) -> None:
        """Runs `sh -c COMMAND` through VMware Tools and waits for it to exit 0."""
        code = self._guest_exit_code(owned, auth, command, what)
        if code != 0:
            raise TargetError(f"{what} failed in the guest (exit {code})",
                              hint="check that the VM runs the portable bootstrap and the guest account may read its volumes")

    def _guest_exit_code(self, owned: OwnedVm, auth: Any, command: str, what: str) -> int:
        """Runs `sh -c COMMAND` through VMware Tools, waits for it to end and returns its exit code."""
        processes = self.session.content.guestOperationsManager.processManager
        spec = vim.vm.guest.ProcessManager.ProgramSpec(programPath="/bin/sh", arguments="-c " + shlex.quote(command))
        pid = self.session.call(what, lambda: processes.StartProgramInGuest(owned.vm, auth, spec))
        deadline = time.monotonic() + TAR_TIMEOUT
        delay = 0.2
        while True:
            found = self.session.call(what, lambda: processes.ListProcessesInGuest(owned.vm, auth, [pid])) or []
            if found and found[0].endTime is not None:
                return int(found[0].exitCode or 0)  # an exit code of 0 may be left out of the answer
            if time.monotonic() > deadline:
                raise TargetError(f"{what} did not finish within {int(TAR_TIMEOUT)}s")
            cancel.pause(delay)
            delay = min(delay * 1.5, 2.0)

    def _open(self, url: str, vm_name: str) -> Any:
        try:
            return urllib.request.urlopen(urllib.request.Request(url), context=ssl_context(self.settings), timeout=60)
        except urllib.error.HTTPError as exc:
            raise TargetError(f"vCenter refused the download from VM {vm_name} (HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TargetError(f"cannot download from VM {vm_name} through {self.session.where}: {getattr(exc, 'reason', exc)}") from None

    def _remove_in_guest(self, owned: OwnedVm, auth: Any, path: str) -> None:
        manager = self.session.content.guestOperationsManager
        try:
            self.session.call(f"removing {path} in VM {owned.name}", lambda: manager.fileManager.DeleteFileInGuest(owned.vm, auth, path))
        except Exception:  # noqa: BLE001 - a leftover file in /tmp is not worth failing the copy for
            pass
