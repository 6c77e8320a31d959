"""What the list answers of an app's kinds say, as `Observed` objects: the one reading of them,
shared by `KubernetesProvider.observe` (through the SDK) and the no-change check (through
`reader.py`, without it), so the two cannot see different things.

Name and digest come from the object's metadata and the annotation written at apply, so a
redeploy with nothing changed plans nothing; `live` carries the managed fields for drift.
Importing nothing heavy (no SDK, tenacity or pydantic) is this module's point.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from portable.plan.resources import Observed
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.drift import managed_of, other_appliers


def observed_from(listed: Iterable[tuple[str, Iterable[Mapping[str, Any]]]]) -> list[Observed]:
    """The app's objects from (kind, `items` of its list answer) pairs, in the order given."""
    out = []
    for kind, items in listed:
        for obj in items:
            meta = obj["metadata"]
            annotations = meta.get("annotations") or {}
            out.append(Observed(
                kind=kind,
                name=meta["name"],
                digest=annotations.get(n.DIGEST),
                stateful=kind == "PersistentVolumeClaim",
                service=(meta.get("labels") or {}).get(n.SERVICE_LABEL),
                info={
                    "namespace": meta.get("namespace"),
                    "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion"),
                    "immutable": annotations.get(n.IMMUTABLE),
                    "appliers": other_appliers(obj),
                },
                live=managed_of(kind, obj),
            ))
    return out
