"""Moves a running app from target A to target B with its data, step by step.

plan on B -> images -> [precopy] -> quiesce A -> export volumes -> deploy B with volumes
restored -> health-check B -> cut over -> retire A. With --quiesce the copy has two passes:
the bulk moves while A still serves, and only what changed since moves inside the window. Each step is written to a journal as it finishes,
so rerunning the same command after a crash resumes where it stopped. Any failure before
the cutover resumes A's writers, removes what was created on B (unless keep_failed), and
leaves A serving with its data untouched.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portable.data.archive import read_index, write_archive
from portable.data.archive_keys import ArchiveKeys
from portable.engine.crashpoints import crashpoint
from portable.engine.interrupted import Interrupted, summary_of
from portable.errors import CapabilityError, InputError, MigrationError, PortableError
from portable.manifest import App
from portable.migrate.blobstore import open_blob_store
from portable.migrate.cutover import Cutover, check_dns, cut_over
from portable.migrate.journal import Journal
from portable.plan.resources import ServiceStatus
from portable.providers.base import (
    Capability, DataDestination, DataSource, ImageMover, ImageSource, Quiescer, check_data_channel, require, role,
)
from portable.session import Session

Progress = Callable[[str], None]


@dataclass
class MigrationResult:
    app: str
    source: str
    destination: str
    journal: Path
    archives: list[dict[str, Any]]
    revision: int | None
    cutover: str
    retired: bool
    write_unavailable_s: float | None = None  # from quiesce to B healthy, when quiesced
    timings: dict[str, float] = field(default_factory=dict)


def stateful_volumes(app: App) -> list[str]:
    """Volumes some service mounts, in manifest order."""
    used = {m.volume for svc in app.services.values() for m in svc.volumes}
    return [v for v in app.manifest.volumes if v in used]


# A destination that restores from inside at first start either waits while the deploy hands
# it the archives portable opened here (RESTORE_FED: Kubernetes' init containers fed through
# exec, vSphere's guest uploads, libcloud nodes over SSH), so nothing sealed needs opening on
# the target; or its VMs fetch them by URL at first boot (aws; libcloud without `ssh`), which
# portable does not see finish and which cannot open a sealed archive: refused without
# --plaintext-transit. With that flag
# every such destination fetches an unsealed transit copy by URL; the ones whose deploy waits
# for that fetch have it deleted when the migration ends.
OBSERVED_AT_DEPLOY = frozenset({"kubernetes", "vsphere"})


def check_roles(src: App, src_provider: Any, dst: App, dst_provider: Any, *, volumes: bool, quiesce: bool, remote_blobs: bool = True, plaintext_transit: bool = False) -> None:
    """Everything a migration needs of both targets' roles, checked while planning.

    `remote_blobs`: the blob store's URLs can be fetched by the targets themselves (S3); a
    destination that restores from inside (an init container, a VM's first boot) needs that."""
    if quiesce:  # said now, before the first copy pass, not when the window opens
        require(src_provider, src.target_name, Capability.QUIESCE, "--quiesce")
    if volumes:
        require(src_provider, src.target_name, Capability.EXPORT_VOLUMES, "migration")
        if not {Capability.RESTORE_VOLUMES, Capability.RESTORE_AT_BOOT} & dst_provider.capabilities:
            raise CapabilityError(f"target `{dst.target_name}` ({dst_provider.name}) cannot restore volume data (neither through its API nor at first start); migration needs it")
        if Capability.RESTORE_VOLUMES not in dst_provider.capabilities and not remote_blobs:
            raise InputError(
                f"target `{dst.target_name}` ({dst_provider.name}) restores volumes from inside, at first start, and cannot read archives kept on this machine",
                hint="pass --blob-store s3://BUCKET/PREFIX (or set PORTABLE_BLOB_STORE) so the destination can fetch them",
            )
        if not {Capability.RESTORE_VOLUMES, Capability.RESTORE_FED} & dst_provider.capabilities and not plaintext_transit:
            raise InputError(
                f"target `{dst.target_name}` ({dst_provider.name}) restores volumes at its instances' first boot, which cannot open sealed archives and which portable does not see finish, so an unsealed copy would stay in the blob store",
                hint="set `key_name` and `ssh` on the target so portable writes the archives over SSH while the first boot waits, or pass --plaintext-transit to accept that copy (server-side encrypted on S3, its URL valid for the deploy timeout, left for you to delete)",
            )
        check_data_channel(src_provider, src, "migration", quiesce=quiesce)  # last: it reaches the source's instances (SSH)


def pinned_images(session: Session, src: App, dst: App, progress: Progress, *, copy: bool = True) -> dict[str, Any]:
    """What the destination runs of what the source's current revision runs by digest:
    {"revision_from", "running" (service -> digest on the source), "images" (service -> the
    reference the destination deploys)}. Promote's machinery: copied by digest into the
    destination's registry when it pushes elsewhere (not with `copy=False`, a dry run), and
    refused in one sentence when the destination would pull it from a registry that lacks it."""
    from portable.delivery.pin import pushing_registry
    from portable.delivery.promote import check_pullable, images_for, pinned_running

    rev = session.store().current(src.name, src.target_name)
    if rev is None or rev.status != "deployed":
        return {"revision_from": None, "running": {}, "images": {}}
    running = pinned_running(src, rev.resources)
    images = images_for(src, dst, running, progress, copy=copy) if running else {}
    src_caps, dst_caps = session.provider(src.target_name).capabilities, session.provider(dst.target_name).capabilities
    engine_copy = Capability.IMPORT_IMAGES in dst_caps and Capability.EXPORT_IMAGES in src_caps  # e.g. docker save | load
    if images and pushing_registry(dst) is None and not engine_copy:
        check_pullable(src, dst, images)
    return {"revision_from": rev.number, "running": running, "images": images}


def destination_plan(session: Session, src: App, destination: str, progress: Progress, *, copy: bool = True) -> tuple[App, Any, dict[str, Any]]:
    """The destination's app and plan with every image pinned to the digest the source runs
    (a tag moved since the source's deploy changes nothing), and the pins (`pinned_images`)."""
    from portable import api

    session.check_settings(destination)  # refused before any image is copied to its registry
    pins = pinned_images(session, src, session.app(destination), progress, copy=copy)
    images: dict[str, str] = pins["images"]
    app, provider, desired = session.prepared(destination, images=images or None, progress=progress)
    if images:  # the plan says which digest on the source each one is
        app = dataclasses.replace(app, images={**app.images, **{s: {"from": pins["running"][s], "image": ref} for s, ref in images.items()}})
    return app, api._plan(app, provider, desired, api._previous(session.store(), app)), pins


def not_ready(statuses: Iterable[ServiceStatus]) -> list[str]:
    """Services with fewer ready replicas than desired: running is not enough, as for deploy."""
    return [f"{s.service} has {s.healthy}/{s.desired} ready" for s in statuses if s.desired and s.healthy < s.desired]


def public_service(app: App, chosen: str | None = None) -> str | None:
    """The service users reach, whose endpoint DNS points at: `chosen` (--dns-service), else
    the one service exposing a public port (http first). Several candidates: InputError."""
    if chosen is not None:
        svc = app.services.get(chosen)
        if svc is None or not any(p.expose == "public" for p in svc.ports):
            public = [n for n, s in app.services.items() if any(p.expose == "public" for p in s.ports)]
            raise InputError(f"--dns-service {chosen}: not a service with a public port; public services: {', '.join(public) or 'none'}")
        return chosen
    http = [n for n, s in app.services.items() if any(p.expose == "public" and p.protocol == "http" for p in s.ports)]
    other = [n for n, s in app.services.items() if n not in http and any(p.expose == "public" for p in s.ports)]
    candidates = http or other
    if len(candidates) > 1:
        raise InputError(f"several services are public ({', '.join(candidates)}): choose the one DNS points at with --dns-service")
    return candidates[0] if candidates else None


class Migration:
    """One migration of one app; `run()` executes or resumes it."""

    def __init__(
        self,
        path: str | Path | Session,
        source: str,
        destination: str,
        *,
        state: Any = None,
        env: Mapping[str, str] | None = None,
        blob_store: str | None = None,
        quiesce: bool = False,
        keep_source: bool = False,
        keep_failed: bool = False,
        cutover: Cutover | None = None,
        progress: Progress = lambda m: None,
        timeout: float = 300.0,
        fresh: bool = False,
        plaintext_transit: bool = False,
        encryption_key: str | None = None,
    ) -> None:
        from portable import api

        if source == destination:
            raise MigrationError("--from and --to name the same target; nothing to move")
        self.api = api
        self.session = Session.open(path, env=env, state=state)  # the manifest is read once
        self.src = self.session.app(source)
        self.dst = self.session.app(destination)
        self.src_provider = self.session.provider(source)
        self.dst_provider = self.session.provider(destination)
        base = self.src.base_dir / ".portable"
        self.blobs = open_blob_store(blob_store, base / "archives")
        self.scratch = base / "tmp"  # archives of a remote blob store are staged here
        self.keys = ArchiveKeys(encryption_key, self.src.name, lambda: self.session.store().app_key(self.src.name), env)  # --encryption-key, else the app's key
        self.plaintext_transit = plaintext_transit
        self.journal = Journal.open(base / "migrations", self.src.name, source, destination, fresh=fresh)
        self.quiesce = quiesce
        self.keep_source = keep_source
        self.keep_failed = keep_failed
        self.cutover = cutover
        self.progress = progress
        self.timeout = timeout
        self.timings: dict[str, float] = {}
        self._quiesced_at: float | None = None

    # ---------------------------------------------------------------- steps
    def _step(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if self.journal.done(name):
            self.progress(f"[{name}] already done (resuming)")
            return self.journal.output(name)
        self.progress(f"[{name}] ...")
        started = time.monotonic()
        self.journal.mark(name, "running")
        try:
            out = fn()
        except KeyboardInterrupt as exc:  # Ctrl-C: the journal stays resumable, nothing is undone
            self.journal.mark(name, "failed", error="interrupted by Ctrl-C (SIGINT)")
            raise self._interrupted(name, exc) from exc
        except BaseException as exc:
            self.journal.mark(name, "failed", error=str(exc))
            raise
        self.timings[name] = time.monotonic() - started
        self.journal.mark(name, "done", out)
        crashpoint(f"migrate.after-{name}")  # tests only (PORTABLE_CRASHPOINT)
        self.progress(f"[{name}] done in {self.timings[name]:.1f}s")
        return out

    def _interrupted(self, step: str, exc: KeyboardInterrupt) -> Interrupted:
        """The line Ctrl-C prints: the step cut short, the steps done, where the app serves, and
        that the same command resumes (the journal keeps every finished step)."""
        done = [s for s, entry in self.journal.steps.items() if entry.get("status") == "done"]
        src, dst = self.src.target_name, self.dst.target_name
        if step in ("cutover", "retire"):
            serving = f"{dst} serves the app" + ("" if step == "cutover" else f", {src} is not fully retired")
        elif self.journal.output("quiesce").get("quiesced") or self._quiesced_at is not None:
            serving = f"the writers on {src} are stopped until it resumes"
        else:
            serving = f"{src} keeps serving"
        inner = (summary_of(exc) or "").split(";")[0]  # the destination's revision, without its own advice
        return Interrupted(
            f"migration from {src} to {dst} stopped in step {step}"
            + (f" ({inner})" if inner else "")
            + f"; done: {', '.join(done) or 'nothing'}; {serving}; run the same migrate again to resume"
        )

    def _plan(self) -> dict[str, Any]:
        self.dst.check_secrets()
        self.keys.check()  # an unreadable --encryption-key stops the run before the source is touched
        problems = self.session.capability_problems(self.dst.target_name)
        if problems:
            raise CapabilityError("\n".join(p.render() for p in problems))
        volumes = stateful_volumes(self.src)
        check_roles(self.src, self.src_provider, self.dst, self.dst_provider, volumes=bool(volumes), quiesce=self.quiesce, remote_blobs=self.blobs.reachable_by_targets,
                    plaintext_transit=self.plaintext_transit)
        if self.cutover is not None:
            public_service(self.dst, self.cutover.service)  # several public services and no --dns-service: said now
            check_dns(self.cutover, self.session)  # a refused DNS key or a missing zone: said now, nothing moved
        self.dst, plan, pins = destination_plan(self.session, self.src, self.dst.target_name, self.progress)
        self.progress(plan.render_text())
        return {"actions": len(plan.actions), "volumes": volumes, "revision_from": pins["revision_from"], "images": pins["images"]}

    def _pinned_dst(self) -> App:
        """The destination app with the images the plan step pinned (again, when resumed)."""
        images = self.journal.output("plan").get("images") or {}
        if images and any(self.dst.images.get(s, {}).get("image") != ref for s, ref in images.items()):
            self.dst = self.session.prepared(self.dst.target_name, images=images, progress=self.progress)[0]
        return self.dst

    def _images(self) -> dict[str, Any]:
        if Capability.IMPORT_IMAGES not in self.dst_provider.capabilities:
            return {"note": f"{self.dst_provider.name} pulls images from their registries"}
        mover = role(self.dst_provider, ImageMover, Capability.IMPORT_IMAGES, self.dst.target_name)
        source = role(self.src_provider, ImageSource, Capability.EXPORT_IMAGES, self.src.target_name) if Capability.EXPORT_IMAGES in self.src_provider.capabilities else None
        return {"moved": mover.import_images(self._pinned_dst(), source, self.progress)}

    def _quiesce(self) -> dict[str, Any]:
        if not self.quiesce:
            return {"quiesced": False, "note": "source kept writing during the copy: the archive is a crash-consistent copy of each file as read"}
        stopped = self._quiescer().quiesce(self.src)
        self._quiesced_at = time.monotonic()
        self.journal.steps.setdefault("quiesce", {})["stopped_at"] = time.time()  # saved with the step: a resumed run still measures the window
        return {"quiesced": True, "stopped": stopped}

    def _export_all(self, phase: str, base: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One archive per volume; with `base` (volume -> index), deltas on those archives."""
        archives = []
        for volume in stateful_volumes(self.src):
            key = f"{self.src.name}/{self.journal.id}/{volume}.{phase}.tar.gz"
            local = self.blobs.writable_path(key, self.scratch)
            chunks, strip = role(self.src_provider, DataSource, Capability.EXPORT_VOLUMES, self.src.target_name, "migration").export_volume(self.src, volume)
            from portable.engine.progress import metered  # bytes and rate of the copy in the live table

            info = write_archive(volume, metered(chunks, self.progress, f"volume {volume} <- {self.src.target_name} ({phase})"), local, strip=strip, base=(base or {}).get(volume),
                                 key=self.keys.sealing())
            url = self.blobs.put(key, local)
            what = f"{info.files} changed files ({info.data_bytes} bytes), {info.deleted} deleted" if info.base else f"{info.files} files, {info.data_bytes} bytes"
            self.progress(f"{phase} archive of volume {volume}: {what}")
            deleted = self._index_of({"key": key, "sealed": info.sealed}).get("deleted", []) if info.deleted else []
            archives.append({**info.to_dict(), "key": key, "url": url, "phase": phase, "deleted_paths": deleted})
        return archives

    def _precopy(self) -> dict[str, Any]:
        """First pass while the source still serves: the bulk of the data moves before the window."""
        archives = self._export_all("base")
        destination = self._api_restorer()
        if destination is not None:
            app = self._restore_app(archives)
            for a in archives:
                self._restore_once("precopy", destination, app, a)
        return {"archives": archives, "restored": destination is not None}

    def _restore_once(self, step: str, destination: DataDestination, app: App, archive: dict[str, Any], **options: Any) -> None:
        """Restores one archive unless this migration's `step` already did (a run interrupted by
        Ctrl-C after the restore, resumed: the volume holds that data, and a second restore
        would refuse a volume that is not empty). Recorded in the journal as soon as it is done."""
        entry = self.journal.steps.setdefault(step, {})
        if archive["key"] in entry.get("restored_keys", []):
            self.progress(f"volume {archive['volume']}: {archive['phase']} archive already restored (resuming)")
            return
        with self._plaintext(archive) as local:
            destination.restore_volume(app, archive["volume"], local, self.progress, sha256=archive["sha256"], **options)
        entry.setdefault("restored_keys", []).append(archive["key"])
        self.journal.save()

    def _api_restorer(self) -> DataDestination | None:
        """The destination as a DataDestination when it restores through its API, else None
        (it restores from inside, at first start, from what translate carries)."""
        if Capability.RESTORE_VOLUMES not in self.dst_provider.capabilities:
            return None
        return role(self.dst_provider, DataDestination, Capability.RESTORE_VOLUMES, self.dst.target_name)

    def _quiescer(self) -> Quiescer:
        return role(self.src_provider, Quiescer, Capability.QUIESCE, self.src.target_name, "--quiesce")

    def _export(self) -> dict[str, Any]:
        pre = self.journal.output("precopy")
        if pre.get("archives"):
            bases = {a["volume"]: self._index_of(a) for a in pre["archives"]}
            archives = pre["archives"] + self._export_all("final", bases)
        else:
            archives = self._export_all("full")
        self.journal.archives = archives
        return {"archives": archives}

    def _restore_app(self, archives: list[dict[str, Any]], opened: Mapping[str, Path] | None = None) -> App:
        """The destination app, carrying for each volume its archives in the order to apply:
        by URL, or (`opened`: archive key -> its plaintext here) as files the deploy hands over."""
        restores: dict[str, list[dict[str, Any]]] = {}
        for a in archives:
            where = {"local": str(opened[a["key"]])} if opened is not None else {"url": a["url"]}
            restores.setdefault(a["volume"], []).append({**where, "sha256": a["sha256"], "key": a["key"], "phase": a["phase"], "deleted": a.get("deleted_paths", [])})
        return dataclasses.replace(self._pinned_dst(), restores=restores)

    def _transit(self, archives: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """For a destination that restores from inside (no AES-GCM in its sh): an unsealed copy of
        each sealed archive under transit/, server-side encrypted on S3, whose URL lives for this
        deploy only (its timeout + 5 min); removed by _drop_transit when the migration ends."""
        out = []
        for a in archives:
            if not a.get("sealed"):
                out.append(a)
                continue
            key = f"transit/{a['key']}"
            with self._plaintext(a) as plain:
                self.blobs.put(key, plain, transit=True)
            out.append({**a, "url": self.blobs.locate(key, expires_s=int(self.timeout) + 300), "transit": key})
        self.journal.steps.setdefault("deploy", {})["transit_keys"] = [a["transit"] for a in out if a.get("transit")]
        self.journal.save()
        return out

    def _drop_transit(self) -> None:
        """Deletes the unsealed transit copies a destination read during its deploy (Kubernetes'
        rollout waits for its init containers; vSphere's upload is portable's own)."""
        if self.dst_provider.name not in OBSERVED_AT_DEPLOY:
            return  # a VM's first boot, not observed (--plaintext-transit): left, as the refusal said
        for key in (self.journal.steps.get("deploy") or {}).get("transit_keys", []):
            try:
                self.blobs.delete(key)
            except PortableError as failed:
                self.progress(f"could not delete the unsealed transit copy {key}: {failed}")

    def _plaintext(self, archive: Mapping[str, Any]) -> Any:
        """The archive's plaintext on this machine (a 0600 scratch file while in use when sealed)."""
        return self.keys.plaintext(self._local_archive(archive), self.scratch, str(archive["key"]), expect_sealed=bool(archive.get("sealed")))

    def _index_of(self, archive: Mapping[str, Any]) -> dict[str, Any]:
        with self._plaintext(archive) as plain:
            return read_index(plain)

    def _deploy(self, archives: list[dict[str, Any]]) -> dict[str, Any]:
        destination = self._api_restorer()
        if destination is None and Capability.RESTORE_FED in self.dst_provider.capabilities and not self.plaintext_transit:
            return self._deploy_fed(archives)  # --plaintext-transit asks for the URL fetch instead
        app = self._restore_app(archives if destination is not None else self._transit(archives))
        if destination is not None:
            pre_restored = self.journal.output("precopy").get("restored", False)
            for a in archives:
                if a["phase"] == "base" and pre_restored:
                    continue  # already on the destination since the first pass
                self._restore_once("deploy", destination, app, a, delta=a["phase"] == "final")
        result = self.api.deploy_app(self.session, app, progress=self.progress, timeout=self.timeout, kind="migrate", message=self._message())
        return {"revision": result.revision}

    def _deploy_fed(self, archives: list[dict[str, Any]]) -> dict[str, Any]:
        """The deploy of a destination whose new instances wait for their archives: each is
        opened here (0600 scratch files, removed when the deploy returns) and handed over by
        the provider while it waits for them, so the key and the plaintext never leave this
        machine and no URL reaches the target."""
        with contextlib.ExitStack() as stack:
            opened = {str(a["key"]): stack.enter_context(self._plaintext(a)) for a in archives}
            app = self._restore_app(archives, opened)
            result = self.api.deploy_app(self.session, app, progress=self.progress, timeout=self.timeout, kind="migrate", message=self._message())
        return {"revision": result.revision}

    def _message(self) -> str:
        """The destination revision's history line: from where, and the digests it pinned."""
        planned = self.journal.output("plan")
        images = planned.get("images") or {}
        if not images:
            return f"migrated from {self.src.target_name}"
        pinned = ", ".join(f"{s} {ref}" for s, ref in sorted(images.items()))
        return f"migrated from {self.src.target_name} revision {planned.get('revision_from')}, images pinned: {pinned}"

    def _local_archive(self, archive: Mapping[str, Any]) -> Path:
        return self.blobs.readable_path(archive["key"], self.scratch)

    def _health(self) -> dict[str, Any]:
        """Every replica of every service ready on the destination, waited for within the timeout."""
        deadline = time.monotonic() + min(self.timeout, 120.0)
        while True:
            status = self.dst_provider.status(self.dst)
            bad = not_ready(status)
            if not bad:
                break
            if time.monotonic() >= deadline:
                raise MigrationError(f"on {self.dst.target_name}: {', '.join(bad)}; the destination never became ready")
            time.sleep(1.0)
        return {"services": {s.service: {"healthy": s.healthy, "desired": s.desired, "endpoints": list(s.endpoints)} for s in status}}

    def _cutover(self, health: dict[str, Any]) -> dict[str, Any]:
        services = health.get("services", {})
        chosen = public_service(self.dst, self.cutover.service if self.cutover else None)
        if chosen is None:
            endpoints = [e for s in services.values() for e in s["endpoints"]]
        else:  # only what the public service publishes, never an app-network name
            endpoints = [e for e in services.get(chosen, {}).get("endpoints", []) if "://" in e]
        return {"message": cut_over(self.cutover, endpoints, self.progress, session=self.session)}

    def _retire(self) -> dict[str, Any]:
        if self.keep_source:
            if self._quiesced_at is not None or self.journal.output("quiesce").get("quiesced"):
                self._quiescer().resume(self.src)
            return {"retired": False}
        self.api.destroy(self.session, self.src.target_name, progress=self.progress, message=f"migrated to {self.dst.target_name}")
        return {"retired": True}

    # ---------------------------------------------------------------- run
    def run(self) -> MigrationResult:
        try:
            self._step("plan", self._plan)
            self._step("images", self._images)
            if self.quiesce and stateful_volumes(self.src):
                self._step("precopy", self._precopy)
            self._step("quiesce", self._quiesce)
            archives = self._step("export", self._export)["archives"]
            revision = self._step("deploy", lambda: self._deploy(archives)).get("revision")
            health = self._step("health", self._health)
        except PortableError as exc:
            self._abort(exc)
            raise
        except Exception as exc:
            self._abort(exc)
            raise MigrationError(f"migration failed before the cutover: {type(exc).__name__}: {exc}; {self.src.target_name} keeps serving") from exc
        unavailable = time.monotonic() - self._quiesced_at if self._quiesced_at is not None else None
        stopped_at = self.journal.steps.get("quiesce", {}).get("stopped_at")
        if unavailable is None and stopped_at is not None:  # quiesced by the run that crashed
            unavailable = time.time() - float(stopped_at)
        self._drop_transit()
        cut = self._step("cutover", lambda: self._cutover(health))
        retired = self._step("retire", self._retire).get("retired", False)
        self.journal.finish("done")
        return MigrationResult(self.src.name, self.src.target_name, self.dst.target_name, self.journal.path, self.journal.archives, revision, cut["message"], bool(retired), unavailable, self.timings)

    def _abort(self, exc: BaseException) -> None:
        """Before the cutover: A keeps (or resumes) serving; B's half-made copy is removed."""
        self.progress(f"migration failed: {exc}")
        if self.journal.output("quiesce").get("quiesced") or self._quiesced_at is not None:
            try:
                self._quiescer().resume(self.src)
                self.progress(f"resumed the writers on {self.src.target_name}")
            except PortableError as failed:
                self.progress(f"could not resume {self.src.target_name}: {failed}")
        if not self.keep_failed and (self.journal.steps.get("deploy") or {}).get("status") in ("running", "failed", "done"):
            try:
                self.api.destroy(self.session, self.dst.target_name, volumes=True, progress=self.progress, message="failed migration cleaned up")
                self.progress(f"removed what was created on {self.dst.target_name}")
            except PortableError as failed:
                self.progress(f"could not clean up {self.dst.target_name}: {failed}")
        self._drop_transit()
        resume = "" if isinstance(exc, InputError) else "; run the same migrate again to resume"  # input errors need a change first
        self.progress(f"{self.src.target_name} keeps serving{resume}")
        self.journal.finish("failed")
