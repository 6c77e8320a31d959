"""Drift of an instance group (aws, libcloud, vsphere): the state of each replica's machine.

An instance group should have `replicas` machines, each running (powered on). One stopped
or terminated through the cloud's API or console, or powered off in vSphere, keeps its tags
and marks, so its digest alone hides it. The group reports `{field: {replica: state}}`
read from the listing `observe` already makes, and wants every replica in `running_word`;
a replica with no machine at all reads `absent`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from portable.plan.resources import Resource

from portable.providers.vm.group import GROUP_KIND

ABSENT = "absent"


def managed_of(resource: Resource, field: str, running_word: str) -> dict[str, Any]:
    """{field: {"0": running_word, ...}} for an instance group; {} for other kinds."""
    if resource.kind != GROUP_KIND:
        return {}
    return {field: {str(i): running_word for i in range(int(resource.spec.get("replicas", 0)))}}


def live_of(field: str, states: Iterable[tuple[int, str]], replicas: int | None = None) -> dict[str, Any]:
    """{field: {replica: state}} of the machines listed; with `replicas`, the missing ones `absent`."""
    out: dict[str, str] = {str(replica): state for replica, state in states}
    for i in range(replicas or 0):
        out.setdefault(str(i), ABSENT)
    return {field: dict(sorted(out.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0))}


def hints(field: str, changed: str, removed: str) -> Mapping[str, str]:
    from portable.plan.drift import REMOVED

    return {field: changed, REMOVED: removed}
