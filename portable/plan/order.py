"""Orders actions into levels: creates/updates after their dependencies, deletes before.

Deterministic (sorted within a level) so plans and logs read the same on every run.
"""
from __future__ import annotations

from collections.abc import Iterable

from portable.plan.plan import Action
from portable.plan.resources import Resource


def order_levels(actions: list[Action], known: Iterable[Resource]) -> list[list[Action]]:
    """Levels of actions; every action comes after the actions it depends on.

    Dependencies come from the desired resources (for creates/updates) and, for deletes, from
    the previous revision's resources, reversed: a dependent is removed before what it uses.
    """
    deps: dict[str, set[str]] = {}
    for r in known:
        deps.setdefault(r.key, set()).update(r.depends_on)
    forward = [a for a in actions if a.op != "delete"]
    backward = [a for a in actions if a.op == "delete"]
    levels = _levels(forward, {a.key: deps.get(a.key, set()) for a in forward})
    # a delete waits for every delete of something that depends on it
    rdeps: dict[str, set[str]] = {a.key: set() for a in backward}
    for a in backward:
        for d in deps.get(a.key, set()):
            if d in rdeps:
                rdeps[d].add(a.key)
    # removals run last, once the new revision is up
    return levels + _levels(backward, rdeps)


def _levels(actions: list[Action], deps: dict[str, set[str]]) -> list[list[Action]]:
    pending = {a.key: a for a in actions}
    out: list[list[Action]] = []
    while pending:
        ready = sorted(
            (a for k, a in pending.items() if not (deps.get(k, set()) & set(pending))),
            key=lambda a: a.key,
        )
        if not ready:  # a cycle slipped past validation: run the rest in name order
            ready = sorted(pending.values(), key=lambda a: a.key)
        out.append(ready)
        for a in ready:
            del pending[a.key]
    return out
