"""`portable exec` on vSphere: `docker exec` in the service's container inside one of its VMs,
through VMware Tools' guest operations (no network path to the VM, no SSH key).

The VM bootstrap runs each service as the container `vm-<app>-<service>` in each of its VMs
(providers/vm/bootstrap.py); replica N is the powered-on VM marked replica N-1 (the VM
runtime numbers from 0, `portable exec` from 1). StartProgramInGuest runs a small `sh`
script as the guest OS account the data roles use (data.py): it redirects its own output
to files under the guest's /tmp, says in a third file whether docker and the container were
there, then runs `docker exec`, so the process's exit code, which ListProcessesInGuest
reports, is the command's. The files are read back with the guest file transfer: while the
command runs, every couple of seconds (what was added since is printed, so a long command's
output appears as it comes, in batches), and once it ended; then they are removed.

`-i` is offered: the local input is read to its end first, uploaded beside the script and
given to `docker exec -i` as its stdin (`portable exec -i db -- psql < dump.sql`), not typed
interactively. `--tty` is refused: guest operations give a program no terminal. Without the
guest account in the environment, exec is refused before vCenter is contacted, naming the
variables.
"""
from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pyVmomi import vim

from portable.errors import InputError, TargetError
from portable.manifest.app import App
from portable.providers.base import ExecIO
from portable.providers.vm.bootstrap import container_name
from portable.providers.vsphere.data import transfer_url
from portable.providers.vsphere.ownership import OwnedVm
from portable.providers.vsphere.restore import VsphereRestore
from portable.providers.vsphere.settings import VsphereSettings

POLL_FIRST = 0.2  # seconds before the first look at the process; then growing to POLL_MAX
POLL_MAX = 1.0
FETCH_EVERY = 2.0  # seconds between reads of the output files while the command runs
NO_DOCKER = "no-docker"  # what the script writes in its state file instead of `started`
NO_CONTAINER = "no-container"


def exec_auth(settings: VsphereSettings, env: dict[str, str] | None = None) -> Any:
    """The guest OS account from the environment, or InputError naming the variables; its
    password is never shown."""
    env = dict(os.environ) if env is None else env
    user, password = env.get(settings.guest_user_env), env.get(settings.guest_password_env)
    if not user or not password:
        raise InputError(f"portable exec on vSphere runs the command through VMware Tools as a guest OS account: "
                         f"set {settings.guest_user_env} and {settings.guest_password_env}",
                         hint="the account must be able to run `docker exec` in the VMs (root, or a member of the docker group)")
    return vim.vm.guest.NamePasswordAuthentication(username=user, password=password, interactiveSession=False)


def exec_script(container: str, command: list[str], base: str, *, stdin: bool) -> str:
    """sh run in the guest: output to `base`.out/.err, `started` (or why not) in `base`.state,
    then `docker exec`, whose exit code is the script's."""
    q = shlex.quote
    c = q(container)
    feed = f" < {q(base + '.in')}" if stdin else " < /dev/null"
    return "\n".join([
        f"exec >{q(base + '.out')} 2>{q(base + '.err')}",
        f"command -v docker >/dev/null 2>&1 || {{ echo {NO_DOCKER} >{q(base + '.state')}; exit 0; }}",
        f"[ \"$(docker inspect -f '{{{{.State.Running}}}}' {c} 2>/dev/null)\" = true ] || {{ echo {NO_CONTAINER} >{q(base + '.state')}; exit 0; }}",
        f"echo started >{q(base + '.state')}",
        f"exec docker exec {'-i ' if stdin else ''}{c} {' '.join(q(a) for a in command)}{feed}",
    ]) + "\n"


class VsphereExec(VsphereRestore):
    """Mixed into VsphereProvider: the Executor role (Capability.EXEC), through guest operations."""

    def _replica_vm(self, app: App, service: str, replica: int) -> OwnedVm:
        if service not in app.services:
            raise InputError(f"no service named {service} in {app.name}; services: {', '.join(sorted(app.services))}")
        vms = sorted((vm for vm in self.marks.owned_vms(app.name) if vm.service == service and vm.kind == "instance-group" and vm.power_state == "poweredOn"),
                     key=lambda vm: (vm.replica, vm.name))
        for vm in vms:
            if vm.replica == replica - 1:
                return vm
        running = ", ".join(f"{vm.replica + 1} ({vm.name})" for vm in vms) or "none"
        raise InputError(f"{service} has no running replica {replica} on target {self.target_name} (powered-on VMs: {running})",
                         hint="portable status shows the replicas; deploy first if there are none")

    def _read_guest_file(self, owned: OwnedVm, auth: Any, path: str) -> bytes | None:
        """The whole file from the guest; None while it does not exist yet."""
        manager = self.session.content.guestOperationsManager
        info = self.session.call(f"reading {path} from VM {owned.name}",
                                 lambda: manager.fileManager.InitiateFileTransferFromGuest(owned.vm, auth, path),
                                 ignore=(vim.fault.FileNotFound,))
        if info is None:
            return None
        with self._open(transfer_url(info.url, self.settings), owned.name) as response:
            return bytes(response.read())

    def exec_in(self, app: App, service: str, replica: int, command: list[str], io: ExecIO) -> int:
        if io.tty:
            raise InputError("portable exec --tty is not offered on vSphere targets: guest operations give a command no terminal; run it without --tty")
        auth = exec_auth(self.settings)  # before vCenter is contacted
        owned = self._replica_vm(app, service, replica)
        container = container_name({"app": app.name, "service": service})
        base = f"/tmp/portable-exec-{uuid.uuid4().hex[:12]}"
        files = [base + suffix for suffix in (".out", ".err", ".state", ".in")]
        try:
            if io.stdin is not None:
                self._upload_stdin(owned, auth, io.stdin, base + ".in")
            code = self._run_streamed(owned, auth, container, exec_script(container, command, base, stdin=io.stdin is not None), base, io, command)
        finally:
            for path in files:
                self._remove_in_guest(owned, auth, path)
        return code

    def _upload_stdin(self, owned: OwnedVm, auth: Any, source: Any, guest_path: str) -> None:
        with tempfile.TemporaryDirectory(prefix="portable-exec-") as scratch:
            local = Path(scratch) / "stdin"
            with open(local, "wb") as spool:
                shutil.copyfileobj(source, spool)
            self._upload(owned, auth, local, guest_path)

    def _run_streamed(self, owned: OwnedVm, auth: Any, container: str, script: str, base: str, io: ExecIO, command: list[str]) -> int:
        """Starts the script, copies its output as it grows, returns its exit code."""
        what = f"running `{' '.join(command)[:60]}` in VM {owned.name}"
        processes = self.session.content.guestOperationsManager.processManager
        spec = vim.vm.guest.ProcessManager.ProgramSpec(programPath="/bin/sh", arguments="-c " + shlex.quote(script))
        pid = self.session.call(what, lambda: processes.StartProgramInGuest(owned.vm, auth, spec))
        shown = {".out": 0, ".err": 0}
        delay, fetched = POLL_FIRST, time.monotonic()
        ended = False
        try:
            while True:
                found = self.session.call(what, lambda: processes.ListProcessesInGuest(owned.vm, auth, [pid])) or []
                if found and found[0].endTime is not None:
                    ended = True
                    code = int(found[0].exitCode or 0)  # an exit code of 0 may be left out of the answer
                    break
                if time.monotonic() - fetched >= FETCH_EVERY:
                    self._show_new(owned, auth, base, shown, io)
                    fetched = time.monotonic()
                time.sleep(delay)
                delay = min(delay * 1.5, POLL_MAX)
        finally:
            if not ended:  # interrupted: the command does not outlive portable exec
                try:
                    self.session.call(f"stopping {what}", lambda: processes.TerminateProcessInGuest(owned.vm, auth, pid))
                except Exception:  # noqa: BLE001 - already ended, or vCenter gone: nothing more to do
                    pass
        state = (self._read_guest_file(owned, auth, base + ".state") or b"").decode(errors="replace").strip()
        if state == NO_DOCKER:
            raise TargetError(f"VM {owned.name} has no `docker` command for the guest account: portable exec runs the command in the container the VM bootstrap starts")
        if state == NO_CONTAINER:
            raise TargetError(f"VM {owned.name} runs no container {container}: its bootstrap may not have run",
                              hint="the guest's `journalctl -u cloud-final` shows the bootstrap's output")
        self._show_new(owned, auth, base, shown, io)
        if state != "started":
            raise TargetError(f"{what}: the guest did not run the command (exit {code})", hint="check that the guest account can write to /tmp")
        return code

    def _show_new(self, owned: OwnedVm, auth: Any, base: str, shown: dict[str, int], io: ExecIO) -> None:
        """Prints what the command added to its output files since the last look."""
        for suffix, put in ((".out", io.out), (".err", io.err)):
            data = self._read_guest_file(owned, auth, base + suffix)
            if data is not None and len(data) > shown[suffix]:
                put(data[shown[suffix]:])
                shown[suffix] = len(data)
