"""Secrets into vSphere guests through VMware Tools, never into guestinfo.

guestinfo lives in the VM's extraConfig, which anyone with read access to the VM's
configuration in vCenter reads (and cloud-init's cleanup happens only after boot). So when
the guest account is set (the variables `guest_user_env` / `guest_password_env` name, the
account export, quiesce and restore already use), the user data in guestinfo carries the
secrets' names only, and once the guest's Tools answer the provider uploads one payload with
vCenter's guest file transfer (InitiateFileTransferToGuest, an HTTPS PUT to the host) into the
bootstrap's 0700 secrets directory and runs secret_push.py's script on it: the values become
0400 files and the marker the bootstrap waits for is written. No value appears in a guest
command line, in extraConfig, or in a message. The registry password the VMs log in with
(`registry.password_from`) is pushed the same way, as the file the bootstrap's `docker login`
reads. Without the guest account an app that mounts a
secret is refused while planning (exit 2), unless the target says `allow_secrets_in_metadata:
true`: then the values ride in guestinfo as they once did, and `plan` warns per service.
"""
from __future__ import annotations

import os
import shlex
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pyVmomi import vim

from portable.engine.cancel import pause
from portable.errors import Problem, TargetError
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.vm.secret_fetch import PUSHED
from portable.providers.vm.secret_push import GUEST_ROOT, NOT_STARTED, delivered_values, needs_channel, payload, services_with_secrets, write_script
from portable.providers.vm.settings import logs_in
from portable.providers.vsphere.connection import Session, ssl_context
from portable.providers.vsphere.data import guest_auth, transfer_url
from portable.providers.vsphere.settings import VsphereSettings

STEP_TIMEOUT = 60.0


def pushes_secrets(settings: VsphereSettings, env: Mapping[str, str] | None = None) -> bool:
    """True when the guest account is set, so secrets go through VMware Tools after boot."""
    env = os.environ if env is None else env
    return bool(env.get(settings.guest_user_env) and env.get(settings.guest_password_env))


def secret_source(settings: VsphereSettings, group_spec: Mapping[str, Any]) -> Mapping[str, str] | None:
    """PUSHED when this group's secrets (or the registry password) are pushed, else None (they
    ride in the user data)."""
    return PUSHED if needs_channel(group_spec, settings.registry) and pushes_secrets(settings) else None


def metadata_secret_refusals(app: App, settings: VsphereSettings) -> list[Problem]:
    """One problem per service whose secrets could only ride in guestinfo (no guest account),
    unless the target accepts that with `allow_secrets_in_metadata` (then legacy_path_warnings says it)."""
    if pushes_secrets(settings) or settings.allow_secrets_in_metadata:
        return []
    return [Problem(f"services.{name}.secrets", f"target `{app.target_name}` has no guest account ({settings.guest_user_env} and {settings.guest_password_env} "
                    "are not both set), so these secret values would ride in guestinfo (the VMs' extraConfig), readable through the vSphere API: "
                    "set both variables so portable writes them through VMware Tools after boot, "
                    "or set `allow_secrets_in_metadata: true` on the target to accept that")
            for name in services_with_secrets(app)] + (
        [Problem(f"targets.{app.target_name}.registry.password_from", f"target `{app.target_name}` has no guest account ({settings.guest_user_env} and "
                 f"{settings.guest_password_env} are not both set), so the registry password would ride in guestinfo (the VMs' extraConfig), readable "
                 "through the vSphere API: set both variables so portable writes it through VMware Tools after boot, "
                 "or set `allow_secrets_in_metadata: true` on the target to accept that")]
        if logs_in(settings.registry) else [])


def legacy_path_warnings(app: App, settings: VsphereSettings) -> list[str]:
    """Plan warnings, one per service whose secrets ride in guestinfo (no guest account, and the
    target's `allow_secrets_in_metadata`: without it planning was refused)."""
    if pushes_secrets(settings):
        return []
    return [f"services.{name}.secrets: on target {app.target_name} their values ride in guestinfo (the VM's extraConfig), readable through the vSphere API: "
            f"set {settings.guest_user_env} and {settings.guest_password_env} (the guest account) so portable writes them through VMware Tools after boot"
            for name in services_with_secrets(app)] + (
        [f"targets.{app.target_name}.registry.password_from: on target {app.target_name} the registry password rides in guestinfo (the VM's extraConfig), "
         f"readable through the vSphere API: set {settings.guest_user_env} and {settings.guest_password_env} (the guest account) so portable writes it "
         "through VMware Tools after boot"]
        if logs_in(settings.registry) else [])


def _run(session: Session, vm: Any, auth: Any, script: str, what: str) -> int:
    """`sh -c SCRIPT` in the guest (no secret in it); its exit code."""
    processes = session.content.guestOperationsManager.processManager
    spec = vim.vm.guest.ProcessManager.ProgramSpec(programPath="/bin/sh", arguments="-c " + shlex.quote(script))
    pid = session.call(what, lambda: processes.StartProgramInGuest(vm, auth, spec))
    deadline = time.monotonic() + STEP_TIMEOUT
    delay = 0.2
    while True:
        found = session.call(what, lambda: processes.ListProcessesInGuest(vm, auth, [pid])) or []
        if found and found[0].endTime is not None:
            return int(found[0].exitCode or 0)
        if time.monotonic() > deadline:
            raise TargetError(f"{what} did not finish within {int(STEP_TIMEOUT)}s")
        pause(delay)  # Ctrl-C ends the wait, as in every other poll loop
        delay = min(delay * 1.5, 2.0)


def _upload(session: Session, settings: VsphereSettings, vm: Any, vm_name: str, auth: Any, data: bytes, guest_path: str) -> None:
    manager = session.content.guestOperationsManager.fileManager
    attributes = vim.vm.guest.FileManager.PosixFileAttributes(permissions=0o600)
    url = session.call(f"starting the upload of the secrets to VM {vm_name}",
                       lambda: manager.InitiateFileTransferToGuest(vm, auth, guest_path, attributes, len(data), True))
    request = urllib.request.Request(transfer_url(str(url), settings), data=data, method="PUT",
                                     headers={"Content-Length": str(len(data)), "Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, context=ssl_context(settings), timeout=STEP_TIMEOUT) as response:  # noqa: S310 - vCenter's transfer URL
            response.read()
    except urllib.error.HTTPError as exc:
        raise TargetError(f"vCenter refused the upload of the secrets to VM {vm_name} (HTTP {exc.code})") from None
    except (urllib.error.URLError, OSError) as exc:
        raise TargetError(f"cannot upload the secrets to VM {vm_name} through {session.where}: {getattr(exc, 'reason', exc)}") from None


def push_secrets(
    session: Session,
    settings: VsphereSettings,
    app: App,
    group: Resource | Mapping[str, Any],
    vm: Any,
    vm_name: str,
    *,
    timeout: float,
    progress: Callable[[str], None],
) -> None:
    """Writes the group's secrets (and the registry password) into one new VM's guest once its
    bootstrap has started; TargetError naming the VM (never a value) when that does not happen
    within `timeout`. `group`: an instance group, or a front proxy's group spec."""
    spec = group.spec if isinstance(group, Resource) else group
    name = group.name if isinstance(group, Resource) else str(spec["service"])
    if secret_source(settings, spec) is None:
        return
    auth = guest_auth(settings)
    data = payload(delivered_values(app, spec, settings.registry))
    what = f"writing the secrets of {name} into VM {vm_name}"
    deadline = time.monotonic() + timeout
    started = f'[ -e {GUEST_ROOT}/status ] && [ -d {GUEST_ROOT}/secrets ] || exit {NOT_STARTED}'
    last = "its bootstrap had not started"
    while True:
        try:
            code = _run(session, vm, auth, started, what)
        except TargetError as exc:  # Tools not answering yet: the guest is booting
            code, last = NOT_STARTED, exc.message
        if code == 0:
            break
        if time.monotonic() > deadline:
            raise TargetError(f"could not write the secrets of {name} into VM {vm_name} within {timeout:.0f}s: {last}",
                              hint="the template needs VMware Tools (open-vm-tools) and the guest account the target names")
        pause(2)
    incoming = f"{GUEST_ROOT}/secrets/.incoming-{uuid.uuid4().hex[:8]}"
    _upload(session, settings, vm, vm_name, auth, data, incoming)
    code = _run(session, vm, auth, write_script(spec, incoming), what)
    if code != 0:
        raise TargetError(f"{what} failed in the guest (exit {code})")
    progress(f"{name}: secrets written into {vm_name} through VMware Tools")
