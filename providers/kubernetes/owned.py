"""`portable gc` on Kubernetes: every object of the kinds portable manages that carries
`app.kubernetes.io/managed-by=portable`, whatever app its `app.kubernetes.io/instance`
label names. Namespaces are not listed: destroy leaves the namespace it created too, and a
namespace's deletion would take whatever else lives in it.

Where the target names a namespace, gc looks only there; without one, each app lives in a
namespace of its own name, so a renamed app's objects are in another namespace: gc looks
cluster-wide and takes each app's objects from its own namespace only. Objects carry no target label (only portable's namespaces do), so `target`
stays None on them: the app labels and the store's history decide.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from portable.manifest.app import App
from portable.providers.base import ApplyContext, OwnedObject
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.client import MANAGED_KINDS, Kube
from portable.providers.kubernetes.settings import KubernetesSettings

# what uses the others goes first: workloads and their routes, then configuration, then claims (data)
ORDER = {"PersistentVolumeClaim": 2, "Secret": 1, "ConfigMap": 1}
PORTABLE = f"{n.MANAGED_BY}=portable"


def _created(meta: dict[str, Any]) -> datetime | None:
    stamp = meta.get("creationTimestamp")
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def list_owned(kube: Kube, settings: KubernetesSettings, target_name: str) -> list[OwnedObject]:
    """Managed objects in the target's namespace (cluster-wide without one)."""
    out: list[OwnedObject] = []
    for kind in MANAGED_KINDS:
        for obj in kube.list(kind, settings.namespace, PORTABLE):
            meta = obj["metadata"]
            labels = meta.get("labels") or {}
            app = labels.get(n.INSTANCE)
            if not app or (settings.namespace is None and meta.get("namespace") != app):
                continue  # without a target namespace an app lives in its own (namespace_of)
            out.append(OwnedObject(
                kind=kind, name=meta["name"], app=app, resource=f"{kind}/{meta['name']}", service=labels.get(n.SERVICE_LABEL),
                created=_created(meta), stateful=kind == "PersistentVolumeClaim",
                labels={k: v for k, v in labels.items() if k.startswith(("portable.io/", "app.kubernetes.io/"))},
                ref={"namespace": meta.get("namespace")}, order=ORDER.get(kind, 0),
            ))
    return out


class KubernetesOwned:
    """The OwnedLister role of KubernetesProvider (LIST_OWNED)."""

    kube: Kube
    settings: KubernetesSettings
    target_name: str

    def list_owned(self, app: App) -> list[OwnedObject]:
        return list_owned(self.kube, self.settings, self.target_name)

    def delete_owned(self, obj: OwnedObject, ctx: ApplyContext) -> None:
        """Background propagation: the object goes at once, its pods and replica sets after it."""
        self.kube.delete(obj.kind, obj.ref.get("namespace"), obj.name, propagation="Background")
