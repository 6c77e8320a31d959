"""Moving an app's data and images in and out of a Docker engine, for migrate/backup/restore.

Volumes are read and written through short-lived helper containers that are created but
never started: the engine's archive API reads and writes a stopped container's mounts, so
no shell or tar is needed in any image. Helpers carry `io.portable.helper=<app>` (not the
app label), so observe never mistakes them for part of the app.
"""
from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker

from portable.errors import MigrationError, TargetError
from portable.manifest.app import App
from portable.data.archive import read_index, restore_tar_stream
from portable.engine.progress import metered
from portable.plan.plan import Action
from portable.providers.base import ApplyContext, ImageSource
from portable.providers.docker import naming
from portable.providers.docker.engine import engine_call
from portable.providers.docker.images import ensure_image

MOUNT = "/portable-volume"
LABEL_HELPER = "io.portable.helper"
Progress = Callable[[str], None]


def _image_for(app: App, volume: str, resources: list[Any]) -> str:
    users = set(app.services_mounting(volume))
    for res in resources:
        if res.kind == naming.KIND_CONTAINER and res.service in users:
            return str(res.spec["image"])
    for res in resources:
        if res.kind == naming.KIND_CONTAINER:
            return str(res.spec["image"])
    raise MigrationError(f"no image of {app.name} is available to read volume {volume} with")


class DockerData:
    """Mixed into DockerProvider: its DataSource, Quiescer, DataDestination, ImageSource and ImageMover roles."""

    # provided by DockerProvider, which this is mixed into
    client: docker.DockerClient
    target_name: str
    translate: Callable[[App], list[Any]]
    apply: Callable[[Action, ApplyContext], None]
    settings: Any  # DockerSettings: `pull`

    def _helper(self, app: App, volume: str, read_only: bool) -> Any:
        image = _image_for(app, volume, self.translate(app))
        vname = naming.volume_name(app.name, volume)
        name = f"{app.name}-{volume}-helper-{uuid.uuid4().hex[:6]}"
        try:
            with engine_call(f"creating a helper container for volume {vname}"):
                return self.client.containers.create(
                    image,
                    name=name,
                    entrypoint=["/portable-never-started"],
                    volumes={vname: {"bind": MOUNT, "mode": "ro" if read_only else "rw"}},
                    labels={LABEL_HELPER: app.name},
                    network_disabled=True,
                )
        except KeyboardInterrupt:  # Ctrl-C cut the call after the engine made it: no handle, so remove it by name
            _remove_cut_helper(self.client, name)
            raise

    def export_volume(self, app: App, volume: str) -> tuple[Iterator[bytes], str]:
        """A tar stream of the volume's files (paths under `portable-volume/`) and that prefix."""
        vname = naming.volume_name(app.name, volume)
        with engine_call(f"finding volume {vname}"):
            self.client.volumes.get(vname)
        helper = self._helper(app, volume, read_only=True)
        with engine_call(f"reading volume {vname}"):
            bits, _ = helper.get_archive(MOUNT + "/")

        def stream() -> Iterator[bytes]:
            try:
                yield from bits
            finally:
                helper.remove(force=True)

        return stream(), MOUNT.strip("/")

    def restore_volume(self, app: App, volume: str, archive: Path, progress: Progress, *, sha256: str | None = None, replace: bool = False, delta: bool = False) -> None:
        """Creates the volume as deploy would (same labels) and fills it from `archive`.

        A full archive refuses to overwrite a volume that already holds data unless
        `replace` is set (restore of a backup), so a resumed migration never clobbers newer
        data. A `delta` archive (second pass of a two-pass copy) is applied on top: its
        deleted paths are removed, its changed files written.
        """
        vname = naming.volume_name(app.name, volume)
        desired = [r for r in self.translate(app) if r.kind == naming.KIND_VOLUME and r.name == volume]
        if not desired:
            raise MigrationError(f"volume {volume} is not part of {app.name} on target {self.target_name}")
        try:
            self.client.volumes.get(vname)
        except docker.errors.NotFound:
            if delta:
                raise MigrationError(f"volume {vname} is missing on target {self.target_name}: the first pass of the copy did not reach it") from None
            self.apply(Action("create", naming.KIND_VOLUME, volume, "restore from archive", desired=desired[0]), ApplyContext(app=app, progress=progress))
        image = _image_for(app, volume, self.translate(app))
        index = read_index(archive)
        if delta:
            if index.get("deleted"):
                _remove_paths(self.client, image, vname, index["deleted"])
        else:
            holds_data = self._holds_data(app, volume)
            if holds_data and not replace:
                raise TargetError(f"volume {vname} on target {self.target_name} already holds data; not overwriting it", hint="remove the volume, or use `portable restore` to replace its contents")
            if holds_data:
                _empty_volume(self.client, image, vname)
        progress(f"restoring volume {vname} from {archive.name}")
        helper = self._helper(app, volume, read_only=False)
        try:
            with engine_call(f"writing volume {vname}"):
                if not helper.put_archive(MOUNT, metered(restore_tar_stream(archive, sha256), progress, f"volume {volume} -> {self.target_name}")):
                    raise TargetError(f"the engine refused to write the archive into volume {vname}")
        finally:
            helper.remove(force=True)

    def _holds_data(self, app: App, volume: str) -> bool:
        helper = self._helper(app, volume, read_only=True)
        try:
            with engine_call(f"reading volume {naming.volume_name(app.name, volume)}"):
                bits, _ = helper.get_archive(MOUNT + "/")
                return _has_entries(bits)
        finally:
            helper.remove(force=True)

    def quiesce(self, app: App) -> list[str]:
        """Stops the containers of services that write to volumes; returns their names."""
        stopped = []
        writers = set(app.volume_writers())
        filters = {"label": [f"{naming.LABEL_APP}={app.name}", f"{naming.LABEL_KIND}={naming.KIND_CONTAINER}"]}
        for c in self.client.containers.list(filters=filters):
            service = c.labels.get(naming.LABEL_SERVICE)
            if service in writers:
                with engine_call(f"stopping {c.name}"):
                    c.stop(timeout=int(app.services[service].stop_grace_s))
                stopped.append(c.name)
        return stopped

    def resume(self, app: App) -> list[str]:
        """Starts again the writers `quiesce` stopped."""
        started = []
        writers = set(app.volume_writers())
        filters = {"label": [f"{naming.LABEL_APP}={app.name}", f"{naming.LABEL_KIND}={naming.KIND_CONTAINER}"], "status": ["exited", "created"]}
        for c in self.client.containers.list(all=True, filters=filters):
            if c.labels.get(naming.LABEL_SERVICE) in writers:
                with engine_call(f"starting {c.name}"):
                    c.start()
                started.append(c.name)
        return started

    def image_stream(self, ref: str) -> Iterator[bytes] | None:
        """ImageSource: `docker save` of `ref` from this engine, or None when it lacks it."""
        try:
            image = self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        # named=True would name the archive after the image's first tag, which is not `ref`
        # when the image has several (lab/x:1 and 127.0.0.1:5000/lab/x:1): loaded, `ref` is missing
        return iter(image.save(named=ref if ref in image.tags else True))

    def import_images(self, app: App, source: ImageSource | None, progress: Progress) -> list[str]:
        """ImageMover: loads the images this engine lacks from `source` (a save | load stream)."""
        wanted = sorted({str(r.spec["image"]) for r in self.translate(app) if r.kind in (naming.KIND_CONTAINER, naming.KIND_PROXY) and r.spec.get("image")})
        moved = []
        for ref in wanted:
            try:
                self.client.images.get(ref)
                continue
            except docker.errors.ImageNotFound:
                pass
            stream = source.image_stream(ref) if source is not None else None
            if stream is None:
                where = "the source cannot hand out images" if source is None else "the source does not hold it"
                progress(f"{ref}: not on {self.target_name} and {where}; the engine pulls it from its registry")
                # now, before the copy: the restore's helper containers are made of this image
                owner = next(r for r in self.translate(app) if r.spec.get("image") == ref)
                ensure_image(self.client, app, owner.service or "front proxy", owner.spec, bool(self.settings.pull), progress)
                continue
            progress(f"copying image {ref} to {self.target_name}")
            with tempfile.TemporaryFile() as tmp:
                for chunk in metered(stream, progress, f"image {ref} -> {self.target_name}"):  # bytes and rate in the live table
                    tmp.write(chunk)
                tmp.seek(0)
                with engine_call(f"loading image {ref} into {self.target_name}"):
                    self.client.images.load(tmp)
            moved.append(ref)
        return moved


def _remove_cut_helper(client: docker.DockerClient, name: str) -> None:
    """Removes a helper whose create call Ctrl-C cut (found in tests: a restore cut just after
    its progress line left `<app>-<volume>-helper-*` behind). The engine may still be making it
    when the signal comes, so a helper not there yet is looked for once more, 0.2 s later."""
    import time

    for attempt in range(2):
        try:
            client.containers.get(name).remove(force=True)
            return
        except docker.errors.NotFound:
            if attempt == 0:
                time.sleep(0.2)
        except (docker.errors.DockerException, OSError):  # the engine is gone: nothing more to do on the way out
            return


def _has_entries(bits: Iterator[bytes]) -> bool:
    import io
    import tarfile

    data = b"".join(bits)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return any(m.name.strip("/").count("/") >= 1 for m in tar.getmembers())


def _remove_paths(client: docker.DockerClient, image: str, vname: str, paths: list[str]) -> None:
    """Deletes paths from a volume with the image's own `rm` (no shell needed)."""
    targets = [f"{MOUNT}/{p.lstrip('/')}" for p in paths if ".." not in p.split("/")]
    with engine_call(f"removing {len(targets)} deleted paths from volume {vname}"):
        client.containers.run(image, entrypoint=["rm", "-rf", "--", *targets], volumes={vname: {"bind": MOUNT, "mode": "rw"}}, remove=True, network_disabled=True)


def _empty_volume(client: docker.DockerClient, image: str, vname: str) -> None:
    """Removes a volume's contents with a run of the app's own image (needs a shell in it)."""
    with engine_call(f"emptying volume {vname}"):
        client.containers.run(image, entrypoint=["sh", "-c", f"rm -rf {MOUNT}/..?* {MOUNT}/.[!.]* {MOUNT}/*"], volumes={vname: {"bind": MOUNT, "mode": "rw"}}, remove=True, network_disabled=True)
