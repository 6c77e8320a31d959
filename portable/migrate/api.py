"""The migration verbs of the Python API: migrate, backup and restore.

backup and restore use the same volume archives and blob store as migrate, so a backup
taken on one target can be restored on another.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portable.data.archive import write_archive
from portable.data.archive_keys import ArchiveKeys, check_key
from portable.engine.interrupted import Interrupted
from portable.engine.progress import metered
from portable.errors import InputError
from portable.manifest import DEFAULT_FILE
from portable.migrate.blobstore import open_blob_store
from portable.migrate.cutover import Cutover, check_dns
from portable.migrate.orchestrator import Migration, MigrationResult, check_roles, destination_plan, stateful_volumes
from portable.plan.plan import Plan
from portable.providers.base import Capability, DataDestination, DataSource, Quiescer, check_data_channel, require, role
from portable.session import Session

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


@dataclass(frozen=True)
class MigrationPreview:
    """`migrate --dry-run`: the destination's plan and the volumes that would move."""

    source: str
    destination: str
    plan: Plan
    volumes: list[str]


def cutover_from_flags(record: str | None, zone: str | None, provider: str = "route53", service: str | None = None) -> Cutover | None:
    """The cutover the flags ask for; --dns-record and --dns-zone go together."""
    if bool(record) != bool(zone):
        raise InputError("--dns-record and --dns-zone go together")
    if service and not record:
        raise InputError("--dns-service needs --dns-record and --dns-zone")
    return Cutover(record, zone, provider, service=service) if record and zone else None


def preview(path: str | Path | Session = DEFAULT_FILE, source: str = "local", destination: str = "", *, state: Any = None, env: Mapping[str, str] | None = None, quiesce: bool = False, blob_store: str | None = None, cutover: Cutover | None = None,
            plaintext_transit: bool = False, encryption_key: str | None = None) -> MigrationPreview:
    """What `migrate` would do, checked as far as it can be without changing anything."""
    if not destination:
        raise InputError("migrate needs a destination target (--to)")
    check_key(encryption_key, env)  # a wrong --encryption-key: exit 2 before anything is read
    session = Session.open(path, env=env, state=state)
    src = session.app(source)
    volumes = stateful_volumes(src)
    blobs = open_blob_store(blob_store, src.base_dir / ".portable" / "archives")
    check_roles(src, session.provider(source), session.app(destination), session.provider(destination), volumes=bool(volumes), quiesce=quiesce, remote_blobs=blobs.reachable_by_targets,
                plaintext_transit=plaintext_transit)
    if cutover is not None:
        check_dns(cutover, session)  # the DNS key and zone, read-only (a refused key: exit 2 now)
    plan = destination_plan(session, src, destination, _quiet, copy=False)[1]  # the digests the source runs, nothing copied
    return MigrationPreview(source, destination, plan, volumes)


def migrate(
    path: str | Path | Session = DEFAULT_FILE,
    source: str = "local",
    destination: str = "",
    *,
    state: Any = None,
    env: Mapping[str, str] | None = None,
    blob_store: str | None = None,
    quiesce: bool = False,
    keep_source: bool = False,
    keep_failed: bool = False,
    cutover: Cutover | None = None,
    progress: Progress = _quiet,
    timeout: float = 300.0,
    plaintext_transit: bool = False,
    encryption_key: str | None = None,
) -> MigrationResult:
    """Moves the app from `source` to `destination` with its volumes (resumable); its archives
    are sealed with `encryption_key` (env:VAR, file:PATH, kms:KEY) or the app's key, and
    `plaintext_transit` accepts the unsealed copy a VM's first boot fetches (docs/security.md)."""
    if not destination:
        raise InputError("migrate needs a destination target (--to)")
    return Migration(path, source, destination, state=state, env=env, blob_store=blob_store, quiesce=quiesce, keep_source=keep_source, keep_failed=keep_failed, cutover=cutover, progress=progress, timeout=timeout,
                     plaintext_transit=plaintext_transit, encryption_key=encryption_key).run()


@dataclass(frozen=True)
class BackupResult:
    app: str
    target: str
    id: str
    index: str  # where backup.json is
    archives: list[dict[str, Any]]


def archive_keys(session: Session, app_name: str, encryption_key: str | None, env: Mapping[str, str] | None = None) -> ArchiveKeys:
    """The keys of `app_name`'s archives: --encryption-key, or the app's state-store key."""
    return ArchiveKeys(encryption_key, app_name, lambda: session.store().app_key(app_name), env)


def backup(path: str | Path | Session = DEFAULT_FILE, target: str = "local", *, env: Mapping[str, str] | None = None, blob_store: str | None = None, quiesce: bool = False, progress: Progress = _quiet,
           encryption_key: str | None = None) -> BackupResult:
    """Exports every volume of the app on `target` as portable archives into the blob store,
    sealed (AES-256-GCM) with `encryption_key` (env:VAR, file:PATH, kms:KEY) or the app's key."""
    session = Session.open(path, env=env)
    app, provider = session.app(target), session.provider(target)
    keys = archive_keys(session, app.name, encryption_key, env)
    source = role(provider, DataSource, Capability.EXPORT_VOLUMES, target, "backup")
    quiescer = role(provider, Quiescer, Capability.QUIESCE, target, "--quiesce") if quiesce else None
    volumes = stateful_volumes(app)
    if not volumes:
        raise InputError(f"{app.name} has no volumes to back up")
    check_data_channel(provider, app, "backup", quiesce=quiesce)  # before anything is stopped
    blobs = open_blob_store(blob_store, app.base_dir / ".portable" / "archives")
    backup_id = uuid.uuid4().hex[:12]
    stopped = quiescer.quiesce(app) if quiescer is not None else []
    archives = []
    try:
        for volume in volumes:
            key = f"{app.name}/{backup_id}/{volume}.tar.gz"
            local = blobs.writable_path(key, app.base_dir / ".portable" / "tmp")
            progress(f"exporting volume {volume}")  # the long phase begins (what a Ctrl-C then cuts)
            chunks, strip = source.export_volume(app, volume)
            info = write_archive(volume, metered(chunks, progress, f"volume {volume} <- {target} (backup)"), local, strip=strip, key=keys.sealing())
            archives.append({**info.to_dict(), "key": key, "url": blobs.put(key, local), "phase": "full"})
            progress(f"volume {volume}: {info.files} files, {info.data_bytes} bytes")
    except KeyboardInterrupt as exc:  # Ctrl-C: no index is written, so no half backup can be restored
        raise Interrupted(f"backup {backup_id} of {app.name} on {target} stopped after {len(archives)} of {len(volumes)} volumes; no backup was recorded{'; its writers are started again' if stopped else ''}; run backup again") from exc
    finally:
        if stopped and quiescer is not None:
            quiescer.resume(app)
    index = {"format": "portable-backup/v1", "app": app.name, "target": target, "id": backup_id, "archives": archives}
    index_file = app.base_dir / ".portable" / "tmp" / f"{backup_id}.json"
    index_file.parent.mkdir(parents=True, exist_ok=True)
    index_file.write_text(json.dumps(index, indent=2, sort_keys=True))
    where = blobs.put(f"{app.name}/{backup_id}/backup.json", index_file)
    return BackupResult(app.name, target, backup_id, where, archives)


def _read_backup(source: str, blobs: Any, app_name: str) -> dict[str, Any]:
    candidate = Path(source)
    if candidate.is_dir():
        candidate = candidate / "backup.json"
    if candidate.is_file():
        return json.loads(candidate.read_text())  # type: ignore[no-any-return]
    key = f"{app_name}/{source}/backup.json"
    if blobs.exists(key):
        tmp = Path(".portable") / "tmp" / f"{source}.json"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return json.loads(blobs.fetch(key, tmp).read_text())  # type: ignore[no-any-return]
    raise InputError(f"no backup {source!r}: give a backup id, its directory, or its backup.json")


def restore(path: str | Path | Session = DEFAULT_FILE, target: str = "local", *, source: str, env: Mapping[str, str] | None = None, blob_store: str | None = None, progress: Progress = _quiet,
            encryption_key: str | None = None) -> list[str]:
    """Puts a backup's volume data back on `target`, replacing what the volumes hold.

    Each target is asked for its role: one that restores through its API (RESTORE_VOLUMES,
    Docker) has its writers stopped around the copy here (QUIESCE); one that writes into the
    deployed app from inside (RESTORE_RUNNING: a helper pod with the writers scaled down on
    Kubernetes, guest operations in vSphere VMs) stops and restarts its writers itself.

    Sealed archives are opened here, every one authenticated whole before any writer is
    stopped or any byte reaches the target; the target receives plaintext only through its
    own authenticated channel (Docker API, Kubernetes exec, SSH, vSphere guest operations)."""
    session = Session.open(path, env=env)
    app, provider = session.app(target), session.provider(target)
    keys = archive_keys(session, app.name, encryption_key, env)
    quiescer: Quiescer | None = None
    if Capability.RESTORE_VOLUMES in provider.capabilities:
        destination = role(provider, DataDestination, Capability.RESTORE_VOLUMES, target, "restore")
        require(provider, target, Capability.QUIESCE, "restore (writers are stopped while the data is replaced)")
        quiescer = role(provider, Quiescer, Capability.QUIESCE, target)
    else:
        destination = role(provider, DataDestination, Capability.RESTORE_RUNNING, target, "restore")
    blobs = open_blob_store(blob_store, app.base_dir / ".portable" / "archives")
    index = _read_backup(source, blobs, app.name)
    unknown = [a["volume"] for a in index["archives"] if a["volume"] not in app.manifest.volumes]
    if unknown:  # said before any writer is stopped
        raise InputError(f"the backup holds volume {unknown[0]}, which the manifest does not declare")
    restored: list[str] = []
    scratch = app.base_dir / ".portable" / "tmp"
    with ExitStack() as opened:
        plaintexts = [opened.enter_context(keys.plaintext(blobs.readable_path(a["key"], scratch), scratch, a["key"], expect_sealed=bool(a.get("sealed")))) for a in index["archives"]]
        _restore_all(app, index, plaintexts, destination, quiescer, restored, source, target, progress)
    return restored


def _restore_all(app: Any, index: dict[str, Any], plaintexts: list[Path], destination: DataDestination, quiescer: Quiescer | None,
                 restored: list[str], source: str, target: str, progress: Progress) -> None:
    """The writing half of restore: the writers stopped (when portable stops them), each volume replaced."""
    stopped = quiescer.quiesce(app) if quiescer is not None else []
    try:
        for archive, local in zip(index["archives"], plaintexts, strict=True):
            destination.restore_volume(app, archive["volume"], local, progress, sha256=archive["sha256"], replace=True)
            restored.append(archive["volume"])
    except KeyboardInterrupt as exc:  # Ctrl-C: say which volumes hold the backup's data and which may not
        rest = [a["volume"] for a in index["archives"] if a["volume"] not in restored]
        raise Interrupted(f"restore of {source} on {target} stopped: replaced {', '.join(restored) or 'no volume'}; {', '.join(rest)} may be partly replaced{'; its writers are started again' if stopped else ''}; run the same restore again to finish") from exc
    finally:
        if stopped and quiescer is not None:
            quiescer.resume(app)
