"""The `kubernetes` provider: the contract's methods, wired to the modules that do the work.

translate.py (pure objects), apply.py (server-side apply + rollout wait), observe below
(labelled objects, one list per kind, read by observed.py), status.py, render.py.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from portable.errors import AuthError
from portable.manifest.app import App
from portable.plan.plan import Action
from portable.plan.resources import LogLine, Observed, Resource, ServiceStatus
from portable.providers.base import ApplyContext, BaseProvider, Capability
from portable.providers.kubernetes.restore import KubernetesRestore
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes import render as render_mod
from portable.providers.kubernetes import status as status_mod
from portable.providers.kubernetes.apply import Applier
from portable.providers.kubernetes.client import Kube
from portable.providers.kubernetes.kinds import MANAGED_KINDS
from portable.providers.kubernetes.owned import KubernetesOwned
from portable.providers.kubernetes.exec import KubernetesExec
from portable.providers.kubernetes.drift import HINTS, desired_fields
from portable.providers.kubernetes.observed import observed_from
from portable.providers.kubernetes.preflight import preflight
from portable.providers.kubernetes.settings import KubernetesSettings
from portable.providers.kubernetes.translate import namespace_of, translate


class KubernetesProvider(KubernetesOwned, KubernetesRestore, KubernetesExec, BaseProvider):
    """Deploys an app as Kubernetes objects in one namespace of one cluster."""

    name: ClassVar[str] = "kubernetes"
    default_parallelism: ClassVar[int] = 64  # as kubectl apply: the apiserver takes every object at once
    drift_hints: ClassVar[Mapping[str, str]] = HINTS
    # migrated volumes are filled in an init container, fed by portable (feed.py, workload.restore_containers)
    base_capabilities: ClassVar[frozenset[Capability]] = frozenset({
        Capability.VOLUMES,
        Capability.PUBLIC_HTTP,
        Capability.PUBLIC_TCP,
        Capability.LOAD_BALANCER,
        Capability.AUTOSCALE,
        Capability.LOGS,
        Capability.EXPORT_VOLUMES,
        Capability.QUIESCE,
        Capability.RESTORE_AT_BOOT,
        Capability.RESTORE_FED,  # the init containers wait; the rollout wait feeds them through exec (feed.py)
        Capability.RESTORE_RUNNING,  # portable restore: a helper pod per claim, writers scaled down (restore.py)
        Capability.LIST_OWNED,  # portable gc (owned.py)
        Capability.EXEC,  # portable exec (exec.py)
    })

    def __init__(self, target_name: str, settings: Any) -> None:
        if not isinstance(settings, KubernetesSettings):
            settings = KubernetesSettings.model_validate(settings or {})
        super().__init__(target_name, settings)
        self.settings: KubernetesSettings = settings
        self.kube = Kube(settings)
        self.applier = Applier(self.kube, settings, target_name)

    def check(self) -> str:
        version = self.kube.version()
        namespace = self.settings.namespace or "(the app's name)"
        if self.settings.namespace:
            try:
                self.kube.list("Deployment", self.settings.namespace, n.app_selector("portable-check"))
            except AuthError as exc:
                raise AuthError(f"the cluster answers but refuses this user in namespace {self.settings.namespace}: {exc.message}") from None
        where = "in-cluster" if self.settings.in_cluster else f"context {self.settings.context or '(current)'}"
        return f"Kubernetes {version.get('gitVersion', '?')} at {self.kube.host} ({where}, namespace {namespace})"

    def translate(self, app: App) -> list[Resource]:
        return translate(app, self.settings)

    def preflight(self, app: App) -> None:
        """Registry password secrets declared and readable, pull Secrets present (preflight.py)."""
        preflight(app, self.settings, self.kube)

    def observe(self, app: App) -> list[Observed]:
        namespace = namespace_of(app, self.settings)
        selector = n.app_selector(app.name)
        with ThreadPoolExecutor(len(MANAGED_KINDS)) as pool:
            listed = list(pool.map(lambda kind: (kind, self.kube.list(kind, namespace, selector)), MANAGED_KINDS))
        return observed_from(listed)

    def plan_warnings(self, app: App) -> list[str]:
        """Manifest fields Kubernetes cannot express, said loudly (as kompose does) with where."""
        out = []
        for name, svc in app.services.items():
            if svc.restart != "always":
                out.append(f"services.{name}.restart: `{svc.restart}` is not expressible for a Deployment/StatefulSet; pods always restart")
            if svc.build is not None and svc.image is None:
                out.append(f"services.{name}.build: Kubernetes builds no images; the pod runs {app.name}-{name}:latest, set targets.{app.target_name}.registry (with a prefix) to build and push it")
        return out

    def managed_fields(self, resource: Resource) -> Mapping[str, Any]:
        """replicas, image, env, ports, resources of a workload (drift.py)."""
        return desired_fields(resource)

    def needs_replace(self, observed: Observed, desired: Resource) -> bool:
        """Workloads whose selector, claim templates or service name changed cannot be updated."""
        if desired.kind not in ("Deployment", "StatefulSet"):
            return False
        want = desired.spec.get("metadata", {}).get("annotations", {}).get(n.IMMUTABLE)
        have = observed.info.get("immutable")
        return bool(want and have and want != have)

    def apply(self, action: Action, ctx: ApplyContext) -> None:
        self.applier.apply(action, ctx)

    def status(self, app: App) -> list[ServiceStatus]:
        return status_mod.status(self.kube, app, namespace_of(app, self.settings))

    def logs(self, app: App, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]:
        return status_mod.logs(self.kube, app, namespace_of(app, self.settings), services, follow=follow, tail=tail)

    def render(self, app: App, resources: list[Resource], outdir: Path) -> list[Path]:
        return render_mod.render(app, self.settings, self.target_name, resources, outdir)
