"""`portable scale SERVICE=N`: replica counts that override the manifest's, recorded in history.

A scale is a revision of kind `scale` whose message records, per service, the replicas asked
for, what the manifest said and a digest of the service's definition at that moment:

    scale web=5 (manifest says 2, definition 3f2a9c0b1d4e)

While planning (`plan`, `deploy`, another `scale`), the newest scale of each service is
applied again **as long as the manifest's definition of that service is unchanged**: a deploy
that changes the service (its `replicas:`, image, env, anything) ends the override, and the
manifest rules from then on; a deploy that changes only other services keeps it. A `destroy`
or a `rollback` ends every override recorded before it. The plan says so:
"web replicas 5 (scaled by `portable scale`, manifest says 2)".

`portable restart [SERVICE...]` records, the same way, a revision of kind `restart`:

    restart web (at 20261201T141500Z, definition 3f2a9c0b1d4e)

and its time becomes the label `portable.dev/restarted-at` of the service's replicas, under
the same rule: a changed pod template (Kubernetes: a rolling update, maxUnavailable 0), a
changed container spec (Docker: each replica replaced start-first behind its proxy), a
changed instance group (VMs: blue/green), each health-gated and rolled back on failure. The
label stays while the definition is unchanged, so a later deploy does not restart again.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from portable.errors import InputError
from portable.manifest.app import App
from portable.manifest.model import Service
from portable.state import Revision, StateStore

RESTART_LABEL = "portable.dev/restarted-at"
_RESTART = re.compile(r"restart (?P<svc>[A-Za-z0-9][A-Za-z0-9_.-]*) \(at (?P<t>\d{8}T\d{6}Z), definition (?P<d>[0-9a-f]{12})\)")
_RECORD = re.compile(r"(?P<svc>[A-Za-z0-9][A-Za-z0-9_.-]*)=(?P<n>\d+) \(manifest says (?P<m>\d+), definition (?P<d>[0-9a-f]{12})\)")


@dataclass(frozen=True)
class Override:
    service: str
    replicas: int
    manifest_replicas: int
    revision: int | None  # the scale revision that recorded it; None: being recorded now

    def note(self) -> str:
        return f"{self.service} replicas {self.replicas} (scaled by `portable scale`, manifest says {self.manifest_replicas})"


@dataclass(frozen=True)
class ScaledApp(App):
    """An App whose replicas were set by `portable scale`; `scaled` says which, for the plan."""

    scaled: Mapping[str, Override] = field(default_factory=dict, compare=False)
    restarted: Mapping[str, str] = field(default_factory=dict, compare=False)  # service -> restart time


def definition(service: Service) -> str:
    """A digest of the service as the manifest defines it: the override holds while it is equal."""
    text = json.dumps(service.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def message(app: App, replicas: Mapping[str, int]) -> str:
    """The scale revision's message (the record `recorded` reads back)."""
    parts = [f"{s}={n} (manifest says {app.services[s].replicas}, definition {definition(app.services[s])})" for s, n in replicas.items()]
    return "scale " + "; ".join(parts)


def restart_message(app: App, services: list[str], at: str) -> str:
    """The restart revision's message (the record `restarts` reads back)."""
    return "; ".join(f"restart {s} (at {at}, definition {definition(app.services[s])})" for s in services)


def _in_force(store: StateStore, app: App, kind: str) -> Iterator[Revision]:
    """The deployed revisions of `kind`, newest first, back to the last destroy or rollback
    (either undoes what a scale or a restart recorded before it)."""
    for rev in reversed(store.history(app.name, app.target_name)):
        if rev.kind in ("destroy", "rollback") and rev.status in ("destroyed", "deployed"):
            return
        if rev.kind == kind and rev.status == "deployed":
            yield rev


def restarts(store: StateStore, app: App) -> dict[str, str]:
    """service -> time of its newest restart still in force (definition unchanged since)."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for rev in _in_force(store, app, "restart"):
        for m in _RESTART.finditer(rev.message):
            if m["svc"] not in seen:
                seen.add(m["svc"])
                if m["svc"] in app.services and definition(app.services[m["svc"]]) == m["d"]:
                    out[m["svc"]] = m["t"]
    return out


def recorded(store: StateStore, app: App) -> dict[str, Override]:
    """The overrides in force: the newest deployed scale of each service whose definition
    is unchanged since, back to the last destroy or rollback."""
    out: dict[str, Override] = {}
    seen: set[str] = set()
    for rev in _in_force(store, app, "scale"):
        for m in _RECORD.finditer(rev.message):
            svc = m["svc"]
            if svc in seen:
                continue
            seen.add(svc)
            if svc in app.services and definition(app.services[svc]) == m["d"] and int(m["n"]) != app.services[svc].replicas:
                out[svc] = Override(svc, int(m["n"]), int(m["m"]), rev.number)
    return out


def check_request(app: App, replicas: Mapping[str, int]) -> None:
    """Bad requests fail before anything is contacted (exit 2)."""
    for svc, n in replicas.items():
        if svc not in app.services:
            raise InputError(f"no service named {svc} in {app.name}; services: {', '.join(sorted(app.services))}")
        if not 0 <= n <= 1000:
            raise InputError(f"{svc}={n}: replicas must be between 0 and 1000")
        if app.services[svc].autoscale is not None:
            raise InputError(f"{svc} autoscales (services.{svc}.autoscale), so its replicas are the autoscaler's: change autoscale.min/max in the manifest instead")


def scaled(app: App, store: StateStore, requested: Mapping[str, int] | None = None, restart: Mapping[str, str] | None = None) -> App:
    """`app` with the recorded overrides (and `requested`, newer) applied to its replicas;
    an app already scaled is returned as it is (the session scales once)."""
    if isinstance(app, ScaledApp):
        return app
    overrides = recorded(store, app)
    for svc, n in (requested or {}).items():
        overrides.pop(svc, None)
        if n != app.services[svc].replicas:
            overrides[svc] = Override(svc, n, app.services[svc].replicas, None)
    restarted = {**restarts(store, app), **(restart or {})}
    if not overrides and not restarted and requested is None and restart is None:
        return app

    def changed(name: str, svc: Service) -> Service:
        update: dict[str, object] = {}
        if name in overrides:
            update["replicas"] = overrides[name].replicas
        if name in restarted:
            update["labels"] = {**svc.labels, RESTART_LABEL: restarted[name]}
        return svc.model_copy(update=update) if update else svc

    services = {name: changed(name, svc) for name, svc in app.services.items()}
    manifest = app.manifest.model_copy(update={"services": services})
    fields = {f: getattr(app, f) for f in App.__dataclass_fields__}
    fields["manifest"] = manifest
    return ScaledApp(**fields, scaled=overrides, restarted=restarted)


def notes(app: App) -> list[str]:
    """What the plan says of the overrides it applies."""
    if not isinstance(app, ScaledApp):
        return []
    return [o.note() for o in app.scaled.values()]


def requested_replicas(pairs: tuple[str, ...]) -> dict[str, int]:
    """SERVICE=N arguments, parsed (InputError, exit 2, for anything else)."""
    out: dict[str, int] = {}
    for pair in pairs:
        name, sep, count = pair.partition("=")
        if not sep or not name or not count.strip().isdigit():
            raise InputError(f"`{pair}`: expected SERVICE=N, e.g. web=3")
        out[name] = int(count)
    return out


__all__ = ["Override", "ScaledApp", "check_request", "message", "notes", "recorded", "requested_replicas", "scaled"]
