"""The Plan: the actions that take a target from what it has to what the manifest wants.

Each action says why it exists; the plan prints as a readable diff or as JSON, and is what
`deploy` executes, level by level in dependency order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from portable.plan.drift import Drift
from portable.plan.resources import Observed, Resource

Op = Literal["create", "update", "replace", "delete"]
SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}


@dataclass(frozen=True)
class Change:
    """One field that differs between the previous and the desired spec."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Action:
    op: Op
    kind: str
    name: str
    reason: str
    desired: Resource | None = None
    observed: Observed | None = None
    changes: tuple[Change, ...] = ()
    # the drift this action repairs: the user saw it on the plan, so the provider may take the
    # fields back from whoever changed them (Kubernetes: force the apply's field conflicts)
    repairs: tuple[Drift, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def service(self) -> str | None:
        if self.desired is not None:
            return self.desired.service
        return self.observed.service if self.observed else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "resource": self.key,
            "service": self.service,
            "reason": self.reason,
            "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in self.changes],
        }


@dataclass
class Plan:
    """Ordered actions for one app on one target."""

    app: str
    target: str
    levels: list[list[Action]]  # each level may run in parallel; levels run in order
    kept: list[Observed] = field(default_factory=list)  # stateful objects left in place on purpose
    warnings: list[str] = field(default_factory=list)
    # action key -> keys of actions to finish first (the engine's schedule); empty: by levels
    dependencies: dict[str, set[str]] = field(default_factory=dict)
    # managed fields changed on the target outside portable; the actions include their repair
    drift: list[Drift] = field(default_factory=list)
    # service -> {"from", "image"}: images pinned to a digest while planning (targets with a registry)
    images: dict[str, dict[str, str]] = field(default_factory=dict)

    def prerequisites(self) -> dict[str, set[str]]:
        """What each action waits for: the exact dependencies, or everything in earlier levels."""
        if self.dependencies:
            return self.dependencies
        out: dict[str, set[str]] = {}
        earlier: set[str] = set()
        for level in self.levels:
            for a in level:
                out[a.key] = set(earlier)
            earlier |= {a.key for a in level}
        return out

    @property
    def actions(self) -> list[Action]:
        return [a for level in self.levels for a in level]

    @property
    def empty(self) -> bool:
        return not self.actions

    @property
    def has_changes(self) -> bool:
        """What `plan --detailed-exitcode` exits 2 for: actions to take or drift found."""
        return not self.empty or bool(self.drift)

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for a in self.actions:
            out[a.op] += 1
        return out

    def summary(self) -> str:
        c = self.counts()
        if self.empty and not self.drift:
            return "No changes. The target matches the manifest."
        drifted = f" ({len(self.drift)} changed outside portable)" if self.drift else ""
        return f"Plan: {c['create']} to create, {c['update']} to update, {c['replace']} to replace, {c['delete']} to delete.{drifted}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "target": self.target,
            "actions": [a.to_dict() for a in self.actions],
            "kept": [o.key for o in self.kept],
            "warnings": list(self.warnings),
            "drift": [d.to_dict() for d in self.drift],
            "images": {k: dict(v) for k, v in self.images.items()},
            "summary": self.counts(),
        }

    def render_text(self) -> str:
        """The plan as terraform users read one: a symbol, the resource, its reason and changes."""
        lines = []
        if self.images:
            lines.append("images (pinned by digest):")
            lines += [f"  {svc}: {pin['from']} -> {pin['image']}" for svc, pin in sorted(self.images.items())]
        if self.drift:
            lines.append("changed outside portable (deploy repairs it):")
            lines += [f"  ~ {d.describe()}" for d in self.drift]
        for a in self.actions:
            lines.append(f"  {SYMBOL[a.op]} {a.key}  ({a.reason})")
            for ch in a.changes:
                lines.append(f"      {ch.path}: {_short(ch.old)} -> {_short(ch.new)}")
        for o in self.kept:
            lines.append(f"  = {o.key}  (kept: holds data; removed only by destroy --volumes)")
        for w in self.warnings:
            lines.append(f"  ! {w}")
        lines.append(self.summary())
        return "\n".join(lines)


def _short(value: Any) -> str:
    text = "(none)" if value is None else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
