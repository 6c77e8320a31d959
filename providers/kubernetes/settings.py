"""Settings of a `kubernetes` target, validated while the manifest is loaded.

Only pydantic (and portable's pure unit parser) is imported here: manifests are validated
on machines without the kubernetes SDK.
"""
from __future__ import annotations

import os

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from portable.delivery.settings import ImageRegistry
from portable.manifest.units import parse_duration

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class IngressSettings(BaseModel):
    """Publishes public http ports through an Ingress instead of a LoadBalancer/NodePort."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_name: str | None = Field(None, alias="class", description="ingressClassName (default: the cluster's default class)")
    host: str = Field(description="host name users reach; with several public http services each gets <service>.<host>")
    tls_secret: str | None = Field(None, description="name of an existing kubernetes.io/tls Secret in the namespace")


class RegistryAuth(BaseModel):
    """Credentials for a private registry, turned into an imagePullSecret."""

    model_config = ConfigDict(extra="forbid")

    server: str = Field(description="registry host, e.g. registry.example.com:5000")
    username: str
    password_secret: str = Field(description="name of an entry under the manifest's top-level `secrets`")


class Toleration(BaseModel):
    """One pod toleration, as Kubernetes spells it: lets portable's pods run on nodes with a matching taint."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, description="taint key (none with operator Exists: every taint)")
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = Field(None, description="taint value (with operator Equal)")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(None, description="taint effect (none: every effect)")


class KubernetesSettings(BaseModel):
    """Which cluster and namespace, and how public ports and storage are laid out."""

    model_config = ConfigDict(extra="forbid")

    kubeconfig: str | None = Field(None, description="path to a kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")
    context: str | None = Field(None, description="kubeconfig context (default: its current-context)")
    in_cluster: bool = Field(False, description="use the pod's service account instead of a kubeconfig")
    namespace: str | None = Field(
        None, pattern=DNS_LABEL, max_length=63, description="namespace of the app (default: the app's name); created if missing"
    )
    ingress: IngressSettings | None = Field(None, description="route public http ports through an Ingress")
    public_service_type: Literal["LoadBalancer", "NodePort"] = Field(
        "LoadBalancer", description="Service type for public ports not routed through an Ingress"
    )
    storage_class: str | None = Field(None, description="storageClassName of volumes (default: the cluster's default class)")
    image_pull_secrets: list[str] = Field(default_factory=list, description="existing Secrets in the namespace to pull images with")
    registries: list[RegistryAuth] = Field(default_factory=list, description="private registries: portable creates their pull Secret")
    registry: ImageRegistry | None = Field(
        None, description="with `prefix`: `build:` services are built locally, pushed there (host/prefix/<app>-<service>) and every image runs by digest; the cluster pulls with `registries` or `image_pull_secrets`"
    )
    force_conflicts: bool = Field(
        False,
        description="take over fields another field manager owns, like kubectl's --force-conflicts "
        "(also: portable deploy --force-conflicts)",
    )
    rollout_timeout: str | int | float | None = Field(
        None, description="longest wait for one workload to become available, e.g. 5m (default: the deploy timeout)"
    )
    request_timeout: float = Field(30.0, gt=0, description="seconds to wait for one API call")
    node_selector: dict[str, str] = Field(default_factory=dict, description="nodeSelector of every pod portable runs (services and helpers)")
    tolerations: list[Toleration] = Field(default_factory=list, description="tolerations of every pod portable runs (services and helpers)")
    restore_image: str = Field(
        default_factory=lambda: os.environ.get("PORTABLE_RESTORE_IMAGE", "busybox:1.36"),
        description="image of the init container that restores migrated volumes (needs sh, head, sha256sum, tar)",
    )

    @field_validator("rollout_timeout")
    @classmethod
    def _duration(cls, value: str | int | float | None) -> str | int | float | None:
        if value is not None:
            parse_duration(value)
        return value

    def pod_placement(self) -> dict[str, Any]:
        """The pod spec fields that choose nodes (nodeSelector, tolerations), empty when none are set."""
        placement: dict[str, Any] = {}
        if self.node_selector:
            placement["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            placement["tolerations"] = [t.model_dump(exclude_none=True) for t in self.tolerations]
        return placement

    @property
    def rollout_timeout_s(self) -> float | None:
        return parse_duration(self.rollout_timeout) if self.rollout_timeout is not None else None
