"""Writing volume data into an app's vSphere VMs: a migration's archives at first start, and
`portable restore` into the running VMs.

Both go through VMware Tools, like export (data.py): the archive is uploaded with vCenter's
guest file transfer (InitiateFileTransferToGuest, an HTTPS PUT), its SHA-256 checked in the
guest with `sha256sum -c`, and unpacked with `tar` into `$PORTABLE_ROOT/volumes/<volume>`,
where the VM bootstrap mounts the data disk. No network path from the guest to the blob
store is needed, only the guest OS account.

First start (migrate, RESTORE_AT_BOOT): a new VM of a service whose volumes a migration
restores is cloned with `guestinfo.portable.restore = pending`; the vendor-data script
(readiness.py) holds cloud-init's user scripts (the bootstrap, which starts the service)
while it reads `pending`. Once the VM's Tools answer, the provider uploads and unpacks the
archives, writes the restore marker the bootstrap's own restore step looks for (so that step
is a no-op), and sets the key to `done`: the service starts on the restored data. A volume
that already holds data is never overwritten at first start, as the bootstrap's script does.

Deployed app (restore, RESTORE_RUNNING): for every powered-on VM of a service mounting the
volume, the service's container is stopped in the guest (when the guest runs it with
docker), the volume emptied and filled from the archive, and the container started again.
"""
from __future__ import annotations

import shlex
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyVmomi import vim

from portable.data.archive import file_sha256, read_index
from portable.data.restore_script import MARKER
from portable.engine.progress import metered
from portable.errors import MigrationError, TargetError
from portable.manifest.app import App
from portable.providers.base import Progress
from portable.providers.vm.bootstrap import container_name
from portable.providers.vsphere.connection import ssl_context
from portable.providers.vsphere.data import GUEST_ROOT, VsphereData, guest_auth, transfer_url
from portable.providers.vsphere.ownership import SERVICE, OwnedVm

RESTORE_KEY = "guestinfo.portable.restore"  # `pending` until the archives are in place, then `done`
UPLOAD_TIMEOUT = 600.0


def restores_for(app: App, group_spec: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """volume -> the archives a migration restores into it, for the volumes this group mounts."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for vol in group_spec.get("volumes", []):
        archives = list(app.restores.get(vol["volume"], ()))
        if archives:
            out[vol["volume"]] = archives
    return out


def _marker(archives: Sequence[Mapping[str, Any]]) -> str:
    """The marker the shared restore script writes (portable/data/restore_script.py)."""
    return f"{MARKER}-{str(archives[-1]['sha256'])[:16]}"


def unpack_script(volume: str, uploads: Sequence[tuple[str, str, Sequence[str]]], *, marker: str, replace: bool, service_container: str | None) -> str:
    """sh run in the guest: check each uploaded archive's SHA-256, unpack them in order into the
    volume, remove a delta's deleted paths, write the marker; the uploads are removed in any case.

    `uploads` is (guest path, sha256, deleted paths) per archive. Without `replace` a volume that
    already holds data (or the marker) is left as it is. With `service_container` the service's
    container is stopped first and started again after (when the guest runs docker)."""
    q = shlex.quote
    files = " ".join(q(path) for path, _, _ in uploads)
    lines = [
        "set -eu",
        f"dest={GUEST_ROOT}/volumes/{q(volume)}",
        f"trap 'rm -f {files}' EXIT",
        'mkdir -p "$dest"',
    ]
    if not replace:
        lines += [
            f'if [ -e "$dest/{marker}" ]; then echo "volume {volume} already restored"; exit 0; fi',
            f'if [ -n "$(ls -A "$dest" | grep -v "^lost+found$" | grep -v "^{MARKER}" || true)" ]; then echo "volume {volume} already holds data; not restoring over it"; exit 0; fi',
        ]
    for path, sha, _ in uploads:  # every archive is checked before anything is changed
        lines.append(f"echo {q(sha + '  ' + path)} | sha256sum -c - >/dev/null || {{ echo 'archive {path} does not match its checksum' >&2; exit 3; }}")
    stop = service_container is not None
    if stop:
        c = q(str(service_container))
        lines += [f"running=''; if command -v docker >/dev/null 2>&1 && [ \"$(docker inspect -f '{{{{.State.Running}}}}' {c} 2>/dev/null)\" = true ]; then docker stop {c} >/dev/null; running=1; fi"]
    if replace:
        lines.append('find "$dest" -mindepth 1 -maxdepth 1 ! -name lost+found -exec rm -rf {} +')
    for path, _, deleted in uploads:
        lines.append(f'tar -xzf {q(path)} -C "$dest"')
        if deleted:
            lines.append('( cd "$dest" && rm -rf -- ' + " ".join(q(p) for p in deleted) + " )")
    lines += [
        'rm -f "$dest/.portable-index.json"',
        f'touch "$dest/{marker}"',
    ]
    if stop:
        lines.append(f"if [ -n \"$running\" ]; then docker start {q(str(service_container))} >/dev/null; fi")
    return "\n".join(lines) + "\n"


def pending_restore(session: Any, vm: Any) -> bool:
    """True while a VM still waits for its migration's archives (a migration stopped midway)."""
    options = session.read(vm, "config.extraConfig", "reading whether the VM's volumes are restored") or []
    return any(o.key == RESTORE_KEY and str(o.value) == "pending" for o in options)


class VsphereRestore(VsphereData):
    """Mixed into VsphereProvider: archives into the guests (first start and `portable restore`)."""

    # ------------------------------------------------------------ first start (migrate)
    def deliver_first_start(self, app: App, group_spec: Mapping[str, Any], owned_vm: Any, vm_name: str, progress: Progress) -> None:
        """Fills the new VM's volumes from the migration's archives, then lets its bootstrap go on."""
        restores = restores_for(app, group_spec)
        if not restores:
            return
        auth = guest_auth(self.settings)
        owned = OwnedVm(vm=owned_vm, name=vm_name, marks={SERVICE: str(group_spec["service"])}, power_state="poweredOn",
                        ip_address=None, cpus=0, memory_mb=0)
        with tempfile.TemporaryDirectory(prefix="portable-restore-") as scratch:
            for volume, archives in restores.items():
                locals_ = [self._fetch(a, Path(scratch), volume) for a in archives]
                deleted = [list(a.get("deleted") or []) for a in archives]
                uploads = self._upload_all(owned, auth, volume, [(p, str(a["sha256"]), d) for p, a, d in zip(locals_, archives, deleted, strict=True)],
                                           progress=progress)
                script = unpack_script(volume, uploads, marker=_marker(archives), replace=False, service_container=None)
                self._run_in_guest(owned, auth, script, f"restoring volume {volume} in VM {vm_name}")
                progress(f"{group_spec['service']}: volume data restored in VM {vm_name} ({volume}: {len(archives)} archive(s), checksums verified in the guest)")
        self._set_restore_key(owned_vm, vm_name, "done")

    def _fetch(self, archive: Mapping[str, Any], scratch: Path, volume: str) -> Path:
        """The archive on this machine, its checksum checked: the plaintext the migration opened
        here (`local`), or a copy fetched from the blob store's URL."""
        what = str(archive.get("key") or f"an archive of volume {volume}")  # never the URL: it may be presigned
        if archive.get("local"):
            opened = Path(str(archive["local"]))
            if file_sha256(opened) != archive["sha256"]:
                raise MigrationError(f"{what} does not match its checksum: it was changed or truncated; run the migration again")
            return opened
        dest = scratch / f"{uuid.uuid4().hex[:8]}.tar.gz"
        try:
            with urllib.request.urlopen(str(archive["url"]), timeout=60) as response, open(dest, "wb") as out:  # noqa: S310 - file:// or the blob store's https
                while chunk := response.read(1 << 20):
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as exc:
            raise MigrationError(f"cannot read {what} from the blob store: {getattr(exc, 'reason', exc)}") from None
        if file_sha256(dest) != archive["sha256"]:
            raise MigrationError(f"{what} does not match its checksum: it was changed or truncated; run the migration again")
        return dest

    def _set_restore_key(self, vm: Any, vm_name: str, value: str) -> None:
        what = f"telling VM {vm_name} its volumes are restored"
        spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=RESTORE_KEY, value=value)])
        task = self.session.call(what, lambda: vm.ReconfigVM_Task(spec=spec))
        self.session.wait_for_task(task, what, timeout=120.0)

    # ------------------------------------------------------------ deployed app (restore)
    def restore_volume(self, app: App, volume: str, archive: Path, progress: Progress, *, sha256: str | None = None, replace: bool = False, delta: bool = False) -> None:
        """Writes `archive` into `volume` on every powered-on VM of the services mounting it.

        The service's container is stopped in the guest while its data is replaced."""
        if sha256 is not None and file_sha256(archive) != sha256:
            raise MigrationError(f"archive {archive.name} does not match its checksum: it was changed or truncated; export it again")
        sha = sha256 or file_sha256(archive)
        deleted = list(read_index(archive).get("deleted", [])) if delta else []
        users = app.services_mounting(volume)
        if not users:
            raise MigrationError(f"no service of {app.name} mounts volume {volume}")
        vms = [vm for vm in self.marks.owned_vms(app.name) if vm.service in users and vm.power_state == "poweredOn"]
        if not vms:
            raise TargetError(f"{app.name} has no powered-on VM on {self.session.where} holding volume {volume}: deploy it first")
        auth = guest_auth(self.settings)
        for owned in sorted(vms, key=lambda vm: (vm.service, vm.replica, vm.name)):
            [upload] = self._upload_all(owned, auth, volume, [(archive, sha, deleted)], progress=progress)
            spec = {"app": app.name, "service": owned.service}
            script = unpack_script(volume, [upload], marker=f"{MARKER}-{sha[:16]}", replace=replace or not delta, service_container=container_name(spec))
            self._run_in_guest(owned, auth, script, f"restoring volume {volume} in VM {owned.name}")
            progress(f"volume {volume}: restored in VM {owned.name} (checksums verified in the guest)")

    # ------------------------------------------------------------ transfer
    def _upload_all(self, owned: OwnedVm, auth: Any, volume: str, archives: Sequence[tuple[Path, str, Sequence[str]]],
                    *, progress: Progress | None = None) -> list[tuple[str, str, Sequence[str]]]:
        """Uploads each archive into the guest's /tmp; (guest path, sha256, deleted) per archive."""
        out: list[tuple[str, str, Sequence[str]]] = []
        try:
            for i, (local, sha, deleted) in enumerate(archives):
                path = f"/tmp/portable-restore-{volume}-{uuid.uuid4().hex[:8]}-{i}.tar.gz"
                out.append((path, sha, deleted))
                self._upload(owned, auth, local, path, progress=progress, transfer=f"volume {volume} -> VM {owned.name}")
        except BaseException:
            for path, _, _ in out:
                self._remove_in_guest(owned, auth, path)
            raise
        return out

    def _upload(self, owned: OwnedVm, auth: Any, local: Path, guest_path: str, *, progress: Progress | None = None, transfer: str = "") -> None:
        """PUTs `local` to the guest through vCenter's transfer URL; with `progress`, its bytes
        go to the live table as they are sent (http.client sends an iterable body chunk by chunk)."""
        manager = self.session.content.guestOperationsManager
        size = local.stat().st_size
        url = self.session.call(
            f"starting the upload of {local.name} to VM {owned.name}",
            lambda: manager.fileManager.InitiateFileTransferToGuest(
                owned.vm, auth, guest_path, vim.vm.guest.FileManager.PosixFileAttributes(), size, True),
        )
        with open(local, "rb") as body:
            data: Any = body if progress is None else metered(iter(lambda: body.read(1 << 20), b""), progress, transfer or f"upload {local.name}", total=size)
            request = urllib.request.Request(transfer_url(str(url), self.settings), data=data, method="PUT",
                                             headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})
            try:
                with urllib.request.urlopen(request, context=ssl_context(self.settings), timeout=UPLOAD_TIMEOUT) as response:  # noqa: S310 - vCenter's transfer URL
                    response.read()
            except urllib.error.HTTPError as exc:
                raise TargetError(f"vCenter refused the upload to VM {owned.name} (HTTP {exc.code})") from None
            except (urllib.error.URLError, OSError) as exc:
                raise TargetError(f"cannot upload to VM {owned.name} through {self.session.where}: {getattr(exc, 'reason', exc)}") from None
