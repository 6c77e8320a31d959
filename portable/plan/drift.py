"""Drift: what was changed on the target outside portable, found by comparing live objects
with the spec they were deployed from on the fields portable manages.

The digest label alone only says which spec an object was created from; `kubectl scale`,
`kubectl set env`, `docker stop` or an instance stopped in a console leave the label as it
was. So each provider reports, for every object it observes, the live values of the fields
it manages (`Observed.live`) and, for a desired Resource, the values those fields should
have (`Provider.managed_fields`), both in one shape: field name -> plain JSON value, where
a mapping value (env) is compared key by key. This module compares the two and words each
difference once, with the provider's guess at what did it (`hint`); the plan then carries
the action that repairs it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from portable.plan.resources import Observed, Resource

#: The desired values of the managed fields of a resource (a provider's `managed_fields`).
ManagedFields = Callable[[Resource], Mapping[str, Any]]

#: The field name of an object that was deployed and is gone (`docker rm`, a terminated VM).
REMOVED = "removed"

#: Fields whose values are never printed (an env value may be a secret someone set by hand).
SENSITIVE = frozenset({"env"})

UNSET = "(unset)"
SET = "(set)"
DEPLOYED = "(deployed value)"
CHANGED = "(another value)"


@dataclass(frozen=True)
class Drift:
    """One managed field whose live value is not the deployed one."""

    resource: str  # the object's key, kind/name
    service: str | None
    field: str  # "replicas", "env.LOG_LEVEL", "state", REMOVED, ...
    desired: Any
    live: Any
    hint: str | None = None  # what probably did it, said as a question: "kubectl scale?"

    def describe(self) -> str:
        """One line: "web replicas 3 -> 1 (kubectl scale?)  [Deployment/web]"."""
        who = self.service or self.resource
        hint = f" ({self.hint})" if self.hint else ""
        if self.field == REMOVED:
            return f"{who} {self.resource} removed{hint}"
        return f"{who} {self.field} {_show(self.desired)} -> {_show(self.live)}{hint}  [{self.resource}]"

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "service": self.service, "field": self.field, "desired": self.desired, "live": self.live, "hint": self.hint}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "(none)" if value is None else str(value)


def compare(observed: Observed, deployed: Resource, managed: ManagedFields, hints: Mapping[str, str]) -> list[Drift]:
    """The managed fields of `observed` whose live value differs from `deployed`'s.

    Only fields both sides report are compared: a provider that cannot read a field cheaply
    leaves it out of `live`, and it is then not drift."""
    want = managed(deployed)
    out: list[Drift] = []
    for name in sorted(want):
        if name not in observed.live:
            continue
        desired, live = want[name], observed.live[name]
        if isinstance(desired, Mapping) and isinstance(live, Mapping):
            out += _compare_mapping(observed, name, desired, live, hints)
        elif desired != live:
            out.append(Drift(observed.key, observed.service, name, desired, live, _hint(hints, name)))
    return out


def _compare_mapping(observed: Observed, name: str, desired: Mapping[str, Any], live: Mapping[str, Any], hints: Mapping[str, str]) -> list[Drift]:
    out = []
    for key in sorted(set(desired) | set(live), key=str):
        want, have = desired.get(key), live.get(key)
        if want == have:
            continue
        if name in SENSITIVE:  # say which variable, never its value
            want = UNSET if key not in desired else DEPLOYED if key in live else SET
            have = UNSET if key not in live else CHANGED if key in desired else SET
        out.append(Drift(observed.key, observed.service, f"{name}.{key}", want, have, _hint(hints, name)))
    return out


def removed(deployed: Resource, hints: Mapping[str, str]) -> Drift:
    """An object of the deployed revision that the target no longer has."""
    return Drift(deployed.key, deployed.service, REMOVED, "present", "absent", _hint(hints, REMOVED))


def _hint(hints: Mapping[str, str], name: str) -> str | None:
    return hints.get(name) or hints.get(name.split(".", 1)[0])


def reason(drifts: list[Drift]) -> str:
    """The reason of the action that repairs `drifts`: "changed outside portable: replicas, env.X"."""
    fields = ", ".join(dict.fromkeys(d.field for d in drifts))
    return f"changed outside portable: {fields}"
