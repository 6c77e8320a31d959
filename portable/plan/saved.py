"""Saved plans (terraform's `plan -out`): the plan a user approved is the plan that runs.

A saved plan records what it was computed against: the manifest's digest for the target,
the state's current revision, and the digest of every object observed on the target. Before
applying, the plan is computed again under the lock; if any of these changed, or the fresh
plan's actions differ from the saved ones, nothing is applied and the user is told to plan
again. The file holds resource specs, which by the provider contract never carry secret
values (secrets travel by name and are resolved at apply time).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portable.errors import InputError, PortableError
from portable.plan.plan import Plan
from portable.plan.resources import Observed, canonical_json

FORMAT = "portable-plan/v1"


class StalePlanError(PortableError):
    """The target, the state or the manifest changed since the plan was made: exit 1, nothing touched."""


@dataclass(frozen=True)
class Basis:
    """What a plan was computed against."""

    manifest_digest: str
    state_revision: int | None
    observed: Mapping[str, str | None]  # object key -> the digest label it carried

    @classmethod
    def of(cls, manifest_digest: str, state_revision: int | None, observed: Iterable[Observed]) -> Basis:
        return cls(manifest_digest, state_revision, {o.key: o.digest for o in observed})


def fingerprint(plan: Plan) -> str:
    """A digest of exactly what applying `plan` would do (operations, objects, desired specs)."""
    rows = [[a.op, a.key, a.desired.digest if a.desired else None, a.observed.digest if a.observed else None] for a in plan.actions]
    return hashlib.sha256(canonical_json(sorted(rows, key=lambda r: (str(r[1]), str(r[0])))).encode()).hexdigest()


@dataclass(frozen=True)
class SavedPlan:
    """A plan file's content."""

    app: str
    target: str
    manifest: str  # the manifest's path when the plan was made
    basis: Basis
    fingerprint: str
    plan: dict[str, Any]  # Plan.to_dict(), for people and for `portable show`-like tools

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "app": self.app,
            "target": self.target,
            "manifest": self.manifest,
            "basis": {"manifest_digest": self.basis.manifest_digest, "state_revision": self.basis.state_revision, "observed": dict(self.basis.observed)},
            "fingerprint": self.fingerprint,
            "plan": self.plan,
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> SavedPlan:
        file = Path(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{file}: cannot read the saved plan: {exc.strerror}") from None
        except (UnicodeDecodeError, ValueError):
            raise InputError(f"{file}: not a saved plan (it is not JSON); make one with `portable plan --out {file}`") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{file}: not a saved plan of this version (format {FORMAT!r} expected)")
        try:
            b = data["basis"]
            return cls(str(data["app"]), str(data["target"]), str(data["manifest"]),
                       Basis(str(b["manifest_digest"]), b["state_revision"], dict(b["observed"])), str(data["fingerprint"]), dict(data["plan"]))
        except (KeyError, TypeError):
            raise InputError(f"{file}: the saved plan is incomplete; make it again with `portable plan --out {file}`") from None


def is_saved_plan(path: str | Path) -> bool:
    """True when `path` is a saved plan file (JSON with the plan format), not a manifest."""
    file = Path(path)
    if file.suffix != ".json" or not file.is_file():
        return False
    try:
        with file.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return FORMAT.encode() in head


def check_still_valid(saved: SavedPlan, now: Basis, fresh: Plan) -> None:
    """Raises StalePlanError, naming what changed, unless `fresh` is exactly the saved plan."""
    planned = saved.plan.get("images") or {}
    for service, pin in sorted(fresh.images.items()):
        was = planned.get(service, {}).get("image") if isinstance(planned.get(service), dict) else None
        if was is not None and was != pin["image"]:
            raise StalePlanError(f"the image of service {service} moved since this plan was made: the plan deploys {was}, {pin['from']} is now {pin['image']}; nothing was applied: run plan again")
    if now.manifest_digest != saved.basis.manifest_digest:
        raise StalePlanError("the manifest changed since this plan was made; run plan again")
    if now.state_revision != saved.basis.state_revision:
        was = f"at revision {saved.basis.state_revision}" if saved.basis.state_revision is not None else "before the first revision"
        raise StalePlanError(f"the state moved to revision {now.state_revision} since this plan was made ({was}); run plan again")
    if dict(now.observed) != dict(saved.basis.observed) or fingerprint(fresh) != saved.fingerprint:
        changed = sorted(k for k in set(now.observed) | set(saved.basis.observed) if now.observed.get(k) != saved.basis.observed.get(k))
        saved_drift = {(d.get("resource"), d.get("field")) for d in saved.plan.get("drift") or [] if isinstance(d, dict)}
        drifted = sorted({d.resource for d in fresh.drift if (d.resource, d.field) not in saved_drift} - set(changed))
        changed += [f"{key} changed outside portable" for key in drifted]  # same labels, live fields differ
        detail = f" ({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''})" if changed else ""
        raise StalePlanError(f"the target changed since this plan was made{detail}; run plan again")
