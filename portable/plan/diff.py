"""Computes a Plan by comparing desired resources with what the target reports.

The target is the truth (its labels carry each object's spec digest); the state's previous
revision only supplies the old spec so the plan can say which fields change.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from portable.paused_gc import paused_gc
from portable.plan.drift import Drift, ManagedFields, compare, reason, removed
from portable.plan.order import action_dependencies, levels_of
from portable.plan.plan import Action, Change, Op, Plan
from portable.plan.resources import Observed, Resource

ReplaceTest = Callable[[Observed, Resource], bool]


def field_changes(old: Any, new: Any, path: str = "") -> list[Change]:
    """Leaf-level differences between two JSON values, as dotted paths."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[Change] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            out += field_changes(old.get(key), new.get(key), sub)
        return out
    if old != new:
        return [Change(path or "(all)", old, new)]
    return []


def compute_plan(
    app: str,
    target: str,
    desired: Iterable[Resource],
    observed: Iterable[Observed],
    previous: Iterable[Resource] = (),
    *,
    needs_replace: ReplaceTest | None = None,
    delete_stateful: bool = False,
    structure: Iterable[Resource] = (),
    managed: ManagedFields | None = None,
    drift_hints: Mapping[str, str] | None = None,
) -> Plan:
    """Actions taking `observed` to `desired`. Stateful leftovers are kept unless asked.

    `structure` adds dependency knowledge for ordering deletes when neither `desired` nor
    `previous` has it (a destroy after a first deploy that failed, say). With `managed` (the
    provider's managed fields), live values are compared with the spec each object was
    deployed from: what differs is drift, listed on the plan, and its object gets an update.
    """
    with paused_gc():  # thousands of new actions and sets, no cycles: see paused_gc.py
        return _compute_plan(app, target, desired, observed, previous, needs_replace, delete_stateful, structure, managed, drift_hints)


def _compute_plan(
    app: str,
    target: str,
    desired: Iterable[Resource],
    observed: Iterable[Observed],
    previous: Iterable[Resource],
    needs_replace: ReplaceTest | None,
    delete_stateful: bool,
    structure: Iterable[Resource],
    managed: ManagedFields | None,
    drift_hints: Mapping[str, str] | None,
) -> Plan:
    want = {r.key: r for r in desired}
    have = {o.key: o for o in observed}
    before = {r.key: r for r in previous}
    hints = drift_hints or {}
    actions: list[Action] = []
    kept: list[Observed] = []
    drift: list[Drift] = []
    for key, res in want.items():
        obs = have.get(key)
        old = before.get(key)
        if obs is None:
            if managed is not None and old is not None:  # deployed, and gone: removed by hand
                drift.append(removed(old, hints))
                actions.append(Action("create", res.kind, res.name, "removed outside portable", desired=res))
                continue
            actions.append(Action("create", res.kind, res.name, "not present on the target", desired=res))
            continue
        deployed = res if obs.digest == res.digest else old if old is not None and obs.digest in (old.digest, None) else None
        found = compare(obs, deployed, managed, hints) if managed is not None and deployed is not None else []
        drift += found
        if obs.digest == res.digest and not found:
            continue
        changes = tuple(field_changes(old.spec, res.spec)) if old is not None and old.digest == obs.digest else ()
        why = "; ".join([*(["spec changed"] if changes else []), *([reason(found)] if found else [])]) or "differs from what is running"
        op: Op = "replace" if needs_replace is not None and needs_replace(obs, res) else "update"
        actions.append(Action(op, res.kind, res.name, why, desired=res, observed=obs, changes=changes, repairs=tuple(found)))
    for key, obs in have.items():
        if key in want:
            continue
        if obs.stateful and not delete_stateful:
            kept.append(obs)
            continue
        actions.append(Action("delete", obs.kind, obs.name, "no longer in the manifest", observed=obs, desired=before.get(key)))
    deps = action_dependencies(actions, [*want.values(), *before.values(), *structure])
    return Plan(app, target, levels_of(actions, deps), kept, dependencies=deps, drift=drift)
