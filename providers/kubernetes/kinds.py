"""The static table of the kinds portable manages on Kubernetes: API group, version and plural
of each, so every call is one known path (no discovery round trips).

Its own module, importing nothing, because two readers need it: `client.Kube` (with the SDK
and tenacity) and the no-change check's `reader.py`, which must not load either.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindInfo:
    api_version: str
    plural: str
    namespaced: bool = True

    def base(self) -> str:
        return "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"


KINDS: dict[str, KindInfo] = {
    "Namespace": KindInfo("v1", "namespaces", namespaced=False),
    "Secret": KindInfo("v1", "secrets"),
    "ConfigMap": KindInfo("v1", "configmaps"),
    "PersistentVolumeClaim": KindInfo("v1", "persistentvolumeclaims"),
    "Service": KindInfo("v1", "services"),
    "Deployment": KindInfo("apps/v1", "deployments"),
    "StatefulSet": KindInfo("apps/v1", "statefulsets"),
    "HorizontalPodAutoscaler": KindInfo("autoscaling/v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": KindInfo("policy/v1", "poddisruptionbudgets"),
    "Ingress": KindInfo("networking.k8s.io/v1", "ingresses"),
}
# the kinds observe lists (and so the only kinds prune/destroy ever delete)
MANAGED_KINDS = tuple(k for k in KINDS if k != "Namespace")
# read-only kinds used by status/rollout
EXTRA_KINDS: dict[str, KindInfo] = {
    "Pod": KindInfo("v1", "pods"),
    "Event": KindInfo("v1", "events"),
    "ReplicaSet": KindInfo("apps/v1", "replicasets"),
    "Node": KindInfo("v1", "nodes", namespaced=False),
}
