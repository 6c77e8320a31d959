"""Orders actions: creates/updates after what they depend on, deletes of dependents before
the deletes of what they used, and removals last, once the new revision is up.

Gives both the exact dependencies (what the engine schedules by: an action starts as soon as
its own prerequisites are done) and levels (how plans print, deterministic and sorted).
"""
from __future__ import annotations

from collections.abc import Iterable

from portable.plan.plan import Action
from portable.plan.resources import Resource


def action_dependencies(actions: list[Action], known: Iterable[Resource]) -> dict[str, set[str]]:
    """For each action key, the keys of the plan's actions that must finish before it starts.

    Dependencies come from the resources (desired, previous, today's translation). A delete
    waits for the deletes of whatever depended on it, and for every create/update/replace.
    """
    deps: dict[str, set[str]] = {}
    for r in known:
        deps.setdefault(r.key, set()).update(r.depends_on)
    keys = {a.key for a in actions}
    forward = [a for a in actions if a.op != "delete"]
    backward = [a for a in actions if a.op == "delete"]
    out: dict[str, set[str]] = {a.key: deps.get(a.key, set()) & keys for a in forward}
    for a in backward:
        out[a.key] = {f.key for f in forward}
    back_keys = {a.key for a in backward}
    for a in backward:
        for used in deps.get(a.key, set()):
            if used in back_keys:
                out[used].add(a.key)  # remove the user before what it uses
    return out


def levels_of(actions: list[Action], deps: dict[str, set[str]]) -> list[list[Action]]:
    pending = {a.key: a for a in actions}
    out: list[list[Action]] = []
    while pending:
        waiting = set(pending)  # once per level, not per action: linear in the plan's size per level
        ready = sorted(
            (a for k, a in pending.items() if deps.get(k, set()).isdisjoint(waiting)),
            key=lambda a: a.key,
        )
        if not ready:  # a cycle slipped past validation: run the rest in name order
            ready = sorted(pending.values(), key=lambda a: a.key)
        out.append(ready)
        for a in ready:
            del pending[a.key]
    return out
