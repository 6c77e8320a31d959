"""`portable gc`: what portable left on a target that nothing describes any more.

A provider that plays the OwnedLister role lists every object carrying portable's ownership
marks, whatever app they name (providers/<p>/owned.py). This module judges them against the
only record of what is "ours": the state store's history of app names on the target.

- An object of an app this store never deployed on the target belongs to someone else
  (another manifest, another state store, a colleague): `foreign`, shown only with
  --all-owners and never deleted.
- An object of an app this store deployed, other than the manifest's app (the manifest was
  renamed, or the app removed from it): `garbage`.
- An object of the manifest's app whose resource neither the manifest (translate) nor the
  app's current revision describes (a removed service's kept volume, what a crashed deploy
  created for a resource since taken out of the manifest): `garbage`.
- An object the provider itself calls a leftover (`OwnedObject.leftover`: a Docker
  replacement container a killed update left beside the replica it was to replace): `garbage`.

Ownership is (app, target) as the marks say plus this store's history; there is no store id
on the objects (docs/gc.md says why). Deleting takes the state lock of every app touched, so
gc never races a deploy, and data (volumes, claims, disks) goes only with `volumes=True`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from portable.errors import PortableError
from portable.manifest import LOCAL_TARGET
from portable.session import Session
from portable.state import Revision, StateStore

from portable.providers.base import ApplyContext, Capability, OwnedLister, OwnedObject, role

Progress = Callable[[str], None]
Verdict = Literal["garbage", "foreign", "other-target"]


def _quiet(message: str) -> None:
    return None


@dataclass(frozen=True)
class Finding:
    """One owned object and what gc makes of it."""

    obj: OwnedObject
    verdict: Verdict
    why: str

    def age(self, now: datetime) -> str:
        """`42s`, `7m`, `3h`, `12d`, or `?` when the target keeps no creation time."""
        if self.obj.created is None:
            return "?"
        created = self.obj.created if self.obj.created.tzinfo else self.obj.created.replace(tzinfo=timezone.utc)
        seconds = max(0, int((now - created).total_seconds()))
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"

    def to_dict(self, now: datetime, store: str) -> dict[str, Any]:
        o = self.obj
        return {
            "kind": o.kind, "name": o.name, "app": o.app, "service": o.service, "target": o.target,
            "store": store if self.verdict == "garbage" else None, "resource": o.resource,
            "stateful": o.stateful, "created": o.created.isoformat() if o.created else None,
            "age": self.age(now), "verdict": self.verdict, "why": self.why,
        }


@dataclass
class GcReport:
    """gc of one target: what was judged garbage (and, with all_owners, what is someone else's)."""

    target: str
    provider: str
    store: str
    findings: list[Finding] = field(default_factory=list)
    deleted: list[Finding] = field(default_factory=list)
    data_kept: list[Finding] = field(default_factory=list)  # garbage holding data, without --volumes

    @property
    def garbage(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "garbage"]

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "target": self.target, "provider": self.provider, "store": self.store,
            "objects": [f.to_dict(now, self.store) for f in self.findings],
            "deleted": [f"{f.obj.kind}/{f.obj.name}" for f in self.deleted],
            "data_kept": [f"{f.obj.kind}/{f.obj.name}" for f in self.data_kept],
        }


def store_apps(store: StateStore, target: str) -> dict[str, Revision]:
    """The apps this store ever deployed on `target`, each with its newest revision."""
    return {r.app: r for r in store.deployments() if r.target == target}


def judge(
    objects: Iterable[OwnedObject], *, app: str, target: str, ours: Mapping[str, Revision],
    described: set[str], services: set[str], current: Revision | None,
) -> list[Finding]:
    """Pure: each object's verdict and why. Objects of the manifest's `app` whose resource is
    `described` (or that realise no resource, such as the namespace) are fine and left out."""
    out: list[Finding] = []
    for o in objects:
        if o.target is not None and o.target != target:
            out.append(Finding(o, "other-target", f"marked for target `{o.target}`, not `{target}`"))
        elif o.app not in ours:
            out.append(Finding(o, "foreign", f"this state store never deployed app `{o.app}` on `{target}`"))
        elif o.app != app:
            last = ours[o.app]
            did = "destroyed it in" if last.status == "destroyed" else "last recorded it in"
            out.append(Finding(o, "garbage", f"app `{o.app}` is not this manifest's app (`{app}`): renamed or removed; "
                                             f"this store {did} revision {last.number} ({last.status})"))
        elif o.leftover is not None:
            out.append(Finding(o, "garbage", o.leftover))
        elif o.resource is not None and o.resource not in described:
            where = f"revision {current.number}" if current is not None else "any deployed revision"
            gone = f"service `{o.service}` is no longer in the manifest; " if o.service and o.service not in services else ""
            out.append(Finding(o, "garbage", f"{gone}{o.resource} is in neither the manifest nor {where}"))
    return sorted(out, key=lambda f: (f.verdict != "garbage", f.obj.app, f.obj.order, f.obj.kind, f.obj.name))


def _described(session: Session, target: str, store: StateStore) -> tuple[set[str], set[str], Revision | None]:
    """Resource keys the manifest's app wants (translate) or its current revision holds."""
    app = session.app(target)
    provider = session.provider(target)
    keys = {r.key for r in provider.translate(app)}
    current = store.current(app.name, app.target_name)
    if current is not None and current.status == "deployed":
        keys |= {r.key for r in current.resources}
    return keys, set(app.services), current


def collect(
    session: Session, target: str, *, delete: bool = False, volumes: bool = False, all_owners: bool = False,
    apps: Iterable[str] = (), progress: Progress = _quiet, timeout: float = 300.0, lock_wait: float = 30.0,
) -> GcReport:
    """Lists (and with `delete`, removes) the garbage of one target. Deleting holds the state
    lock of the manifest's app and of every app whose objects go, and judges again under it.
    With `apps`, only the objects of those apps (the manifest's included when named) can be garbage:
    a store that several manifests share holds apps that are not renamed versions of this one."""
    app, provider, store = session.app(target), session.provider(target), session.store()
    chosen = set(apps)
    lister = role(provider, OwnedLister, Capability.LIST_OWNED, target, "portable gc")

    def judged() -> list[Finding]:
        described, services, current = _described(session, target, store)
        found = judge(lister.list_owned(app), app=app.name, target=app.target_name, ours=store_apps(store, app.target_name),
                      described=described, services=services, current=current)
        return [f for f in found if not chosen or f.verdict != "garbage" or f.obj.app in chosen]

    report = GcReport(target, provider.name, store.url)
    findings = judged()
    garbage = [f for f in findings if f.verdict == "garbage"]
    if delete and garbage:
        with ExitStack() as locks:
            for name in sorted({app.name} | {f.obj.app for f in garbage}):  # one order: two gc runs never deadlock
                locks.enter_context(store.lock(name, app.target_name, "gc", wait=lock_wait, progress=progress))
            findings = judged()  # what a deploy finished meanwhile is described now
            ctx = ApplyContext(app=app, progress=progress, timeout=timeout)
            for f in sorted((f for f in findings if f.verdict == "garbage"), key=lambda f: f.obj.order):
                if f.obj.stateful and not volumes:
                    report.data_kept.append(f)
                    continue
                progress(f"deleting {f.obj.kind} {f.obj.name} (app {f.obj.app})")
                try:
                    lister.delete_owned(f.obj, ctx)
                except PortableError as exc:
                    exc.message = f"{exc.message} (gc stopped after deleting {len(report.deleted)} object(s); run it again for the rest)"
                    exc.args = (exc.message,)
                    raise
                report.deleted.append(f)
            _record_collected(store, app.name, app.target_name, findings, report)
    report.findings = [f for f in findings if f.verdict == "garbage" or all_owners]
    return report


def _record_collected(store: StateStore, app: str, target: str, findings: list[Finding], report: GcReport) -> None:
    """An app other than the manifest's whose every object went is recorded `destroyed`, so
    `history` and `status` stop saying it lives there (its data kept: it still does)."""
    ours = store_apps(store, target)
    for name in sorted({f.obj.app for f in report.deleted} - {app}):
        left = [f for f in findings if f.obj.app == name and f.verdict == "garbage" and f not in report.deleted]
        last = ours.get(name)
        if left or last is None or last.status == "destroyed":
            continue
        rev = store.begin(name, target, "destroy", last.manifest_digest, [], "gc: no manifest describes this app any more")
        store.finish(rev, "destroyed")


def targets_of(session: Session, store: StateStore) -> list[str]:
    """--all-targets: every target the manifest declares, and `local` when it is declared or
    this store deployed there."""
    declared = [t for t in session.loaded.manifest.targets if t != LOCAL_TARGET]
    used_local = LOCAL_TARGET in session.loaded.manifest.targets or any(r.target == LOCAL_TARGET for r in store.deployments())
    return ([LOCAL_TARGET] if used_local else []) + declared


def gc(
    path: str | Path | Session, target: str = LOCAL_TARGET, *, all_targets: bool = False, delete: bool = False, volumes: bool = False,
    all_owners: bool = False, apps: Iterable[str] = (), state: str | Path | StateStore | None = None, env: Mapping[str, str] | None = None,
    progress: Progress = _quiet, timeout: float = 300.0, lock_wait: float = 30.0,
) -> list[GcReport]:
    """`portable gc`: one report per target (`target`, or every target with `all_targets`)."""
    session = Session.open(path, env=env, state=state)
    store = session.store()
    names = targets_of(session, store) if all_targets else [target]
    return [collect(session, name, delete=delete, volumes=volumes, all_owners=all_owners, apps=apps, progress=progress,
                    timeout=timeout, lock_wait=lock_wait) for name in names]
