"""The fields of a Kubernetes workload portable manages, read the same way from the desired
object (a Resource's spec) and from the live one the apiserver lists, so a difference is
drift: `kubectl scale`, `kubectl set env`, `kubectl set image`, `kubectl set resources`,
a probe removed with `kubectl edit`.

Only the Deployments and StatefulSets are compared, from the objects `observe` already
lists (no call per object). Quantities are compared by value: the apiserver may write
`0.5` back as `500m`. Literal env values only: a variable from a Secret has no value here.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from portable.plan.drift import REMOVED
from portable.plan.resources import Resource
from portable.providers.kubernetes.naming import FIELD_MANAGER

WORKLOAD_KINDS = ("Deployment", "StatefulSet")

HINTS: Mapping[str, str] = {
    "replicas": "kubectl scale?",
    "env": "kubectl set env?",
    "image": "kubectl set image?",
    "resources": "kubectl set resources?",
    "ports": "kubectl edit or patch?",
    "health": "kubectl edit or patch?",
    REMOVED: "kubectl delete?",
}

_SUFFIXES = {"m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
             "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40)}


def managed_of(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """replicas, and the image, env, ports, readiness check and resources of the workload's
    first container; {} for other kinds."""
    if kind not in WORKLOAD_KINDS:
        return {}
    spec = obj.get("spec") or {}
    out: dict[str, Any] = {}
    if "replicas" in spec:  # absent with an HPA: the replica count is the HPA's
        out["replicas"] = spec["replicas"]
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        return out
    main = containers[0]
    out["image"] = main.get("image")
    out["env"] = {e["name"]: e.get("value", "") for e in main.get("env") or [] if "valueFrom" not in e}
    out["ports"] = sorted(int(p["containerPort"]) for p in main.get("ports") or [])
    out["health"] = _check(main.get("readinessProbe"))
    out["resources"] = {f"{part}.{name}": _amount(value) for part, amounts in sorted((main.get("resources") or {}).items())
                        for name, value in sorted((amounts or {}).items())}
    return out


def desired_fields(resource: Resource) -> dict[str, Any]:
    """What the managed fields of a desired Resource should be, read from its spec as from a
    live object: the provider's `managed_fields`, and the no-change check's (reader.py)."""
    return managed_of(resource.kind, resource.spec)


def other_appliers(obj: Mapping[str, Any]) -> list[str]:
    """Field managers besides portable that own fields by server-side *apply* (a GitOps tool,
    someone's `kubectl apply --server-side`): declared co-owners, whose fields a repair must
    not take without --force-conflicts. `kubectl scale`, `set env` and `edit` are updates."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return sorted({str(m.get("manager")) for m in entries if m.get("operation") == "Apply" and m.get("manager") != FIELD_MANAGER})


def _check(probe: Any) -> str | None:
    """The readiness check as one phrase ("http :8080/healthz"); the apiserver's defaults
    (scheme, thresholds) are left out so only a changed or removed check differs."""
    if not isinstance(probe, Mapping):
        return None
    if "httpGet" in probe:
        return f"http :{probe['httpGet'].get('port')}{probe['httpGet'].get('path', '/')}"
    if "tcpSocket" in probe:
        return f"tcp :{probe['tcpSocket'].get('port')}"
    if "exec" in probe:
        return "exec " + " ".join(str(a) for a in probe["exec"].get("command") or [])
    if "grpc" in probe:
        return f"grpc :{probe['grpc'].get('port')}"
    return "other"


def _amount(value: Any) -> str:
    """A quantity by value ("0.5" and "500m" are the same), printed back in plain numbers."""
    text = str(value)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            try:
                number = Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
            except InvalidOperation:
                return text
            return _plain(number)
    try:
        return _plain(Decimal(text))
    except InvalidOperation:
        return text


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")
