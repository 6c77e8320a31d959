"""The migration verbs of the Python API: migrate, backup and restore.

backup and restore use the same volume archives and blob store as migrate, so a backup
taken on one target can be restored on another.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portable.errors import CapabilityError, InputError
from portable.manifest import DEFAULT_FILE, load_app
from portable.migrate.archive import write_archive
from portable.migrate.blobstore import open_blob_store
from portable.migrate.cutover import Cutover
from portable.migrate.orchestrator import Migration, MigrationResult, stateful_volumes

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


def migrate(
    path: str | Path = DEFAULT_FILE,
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
) -> MigrationResult:
    """Moves the app from `source` to `destination` with its volumes (resumable)."""
    if not destination:
        raise InputError("migrate needs a destination target (--to)")
    return Migration(path, source, destination, state=state, env=env, blob_store=blob_store, quiesce=quiesce, keep_source=keep_source, keep_failed=keep_failed, cutover=cutover, progress=progress, timeout=timeout).run()


@dataclass(frozen=True)
class BackupResult:
    app: str
    target: str
    id: str
    index: str  # where backup.json is
    archives: list[dict[str, Any]]


def backup(path: str | Path = DEFAULT_FILE, target: str = "local", *, env: Mapping[str, str] | None = None, blob_store: str | None = None, quiesce: bool = False, progress: Progress = _quiet) -> BackupResult:
    """Exports every volume of the app on `target` as portable archives into the blob store."""
    from portable.api import open_provider

    app = load_app(path, target, env)
    provider = open_provider(app)
    if not callable(getattr(provider, "export_volume", None)):
        raise CapabilityError(f"target `{target}` ({provider.name}) cannot export volume data")
    volumes = stateful_volumes(app)
    if not volumes:
        raise InputError(f"{app.name} has no volumes to back up")
    blobs = open_blob_store(blob_store, app.base_dir / ".portable" / "archives")
    backup_id = uuid.uuid4().hex[:12]
    stopped = provider.quiesce(app) if quiesce else []
    archives = []
    try:
        for volume in volumes:
            key = f"{app.name}/{backup_id}/{volume}.tar.gz"
            local = blobs.writable_path(key, app.base_dir / ".portable" / "tmp")
            chunks, strip = provider.export_volume(app, volume)
            info = write_archive(volume, chunks, local, strip=strip)
            archives.append({**info.to_dict(), "key": key, "url": blobs.put(key, local), "phase": "full"})
            progress(f"volume {volume}: {info.files} files, {info.data_bytes} bytes")
    finally:
        if stopped:
            provider.resume(app)
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


def restore(path: str | Path = DEFAULT_FILE, target: str = "local", *, source: str, env: Mapping[str, str] | None = None, blob_store: str | None = None, progress: Progress = _quiet) -> list[str]:
    """Puts a backup's volume data back on `target`, replacing what the volumes hold."""
    from portable.api import open_provider

    app = load_app(path, target, env)
    provider = open_provider(app)
    if not callable(getattr(provider, "restore_volume", None)):
        raise CapabilityError(f"target `{target}` ({provider.name}) cannot restore volume data in place")
    blobs = open_blob_store(blob_store, app.base_dir / ".portable" / "archives")
    index = _read_backup(source, blobs, app.name)
    restored = []
    stopped = provider.quiesce(app)
    try:
        for archive in index["archives"]:
            if archive["volume"] not in app.manifest.volumes:
                raise InputError(f"the backup holds volume {archive['volume']}, which the manifest does not declare")
            local = blobs.readable_path(archive["key"], app.base_dir / ".portable" / "tmp")
            provider.restore_volume(app, archive["volume"], local, progress, sha256=archive["sha256"], replace=True)
            restored.append(archive["volume"])
    finally:
        if stopped:
            provider.resume(app)
    return restored
