"""Carries out one plan action on the cluster: server-side apply, replace, delete, then wait.

Every object is applied with field manager `portable` (conflicts forced only when the
target asks for it), stamped with the digest of the Resource it came from so observe can
tell whether it is up to date. Secret data is filled in here, from the app, just before
the call; it never enters a Resource, a log line or an error message.
"""
from __future__ import annotations

import base64
import json
import threading
from typing import Any

from portable.errors import AuthError, InputError, TargetError
from portable.manifest.app import App
from portable.plan.plan import Action
from portable.plan.resources import Resource
from portable.providers.base import ApplyContext
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.client import Kube
from portable.providers.kubernetes.feed import feeder_for
from portable.providers.kubernetes.rollout import wait_for_rollout, wait_until_gone
from portable.providers.kubernetes.settings import KubernetesSettings
from portable.providers.kubernetes.translate import namespace_of

WORKLOADS = ("Deployment", "StatefulSet")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def stamped(resource: Resource) -> dict[str, Any]:
    """The object as applied: the Resource spec plus its digest annotation (no secret data)."""
    # copies of only what is changed (the top level, metadata, annotations): a deep copy of
    # every object was a fifth of a 1,000-service render; nothing here changes nested values
    obj = dict(resource.spec)
    metadata = obj["metadata"] = dict(obj["metadata"])
    metadata["annotations"] = {**metadata.get("annotations", {}), n.DIGEST: resource.digest}
    return obj


def registry_config(server: str, username: str, password: bytes | None) -> str:
    entry: dict[str, str] = {"username": username}
    if password is not None:
        entry["password"] = password.decode()
        entry["auth"] = b64(username.encode() + b":" + password)
    return json.dumps({"auths": {server: entry}}, sort_keys=True)


def with_secret_data(obj: dict[str, Any], app: App, settings: KubernetesSettings) -> dict[str, Any]:
    """Fills a Secret's data from the app's secret sources, read now."""
    annotations = obj["metadata"].get("annotations", {})
    source = annotations.get(n.SECRET_SOURCE)
    if obj.get("kind") != "Secret" or not source:
        return obj
    if obj.get("type") == "kubernetes.io/dockerconfigjson":
        who = annotations.get("portable.io/registry", "")
        reg = next((r for r in settings.registries if f"{r.username}@{r.server}" == who), None)
        if reg is None:
            raise InputError(f"Secret {obj['metadata']['name']}: registry {who} is no longer in the target's `registries`")
        obj["data"] = {".dockerconfigjson": b64(registry_config(reg.server, reg.username, app.secret_value(reg.password_secret)).encode())}
    else:
        obj["data"] = {"value": b64(app.secret_value(source))}
    return obj


class Applier:
    """Applies actions for one target; shared by the engine's parallel threads."""

    def __init__(self, kube: Kube, settings: KubernetesSettings, target_name: str) -> None:
        self.kube = kube
        self.settings = settings
        self.target_name = target_name
        self._namespaces: set[str] = set()
        self._lock = threading.Lock()

    def ensure_namespace(self, namespace: str) -> None:
        """Creates the target's namespace (labelled) when missing, once per run.

        An existing namespace is left as it is: users with rights only inside their
        namespace (common on shared clusters) cannot change a Namespace object.
        """
        with self._lock:
            if namespace in self._namespaces:
                return
            try:
                exists = self.kube.get("Namespace", None, namespace) is not None
            except AuthError:  # may not read namespaces: assume it was provided
                exists = True
            if not exists:
                obj = {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": {n.MANAGED_BY: "portable", n.TARGET_LABEL: n.dns_name(self.target_name)}},
                }
                self.kube.apply(obj, force=False)
            self._namespaces.add(namespace)

    def force_conflicts(self, ctx: ApplyContext) -> bool:
        """The target's setting, or `deploy --force-conflicts` (carried by the ApplyContext)."""
        return self.settings.force_conflicts or ctx.force_conflicts

    def rollout_timeout(self, ctx: ApplyContext) -> float:
        limit = self.settings.rollout_timeout_s
        return min(ctx.timeout, limit) if limit is not None else ctx.timeout

    def apply(self, action: Action, ctx: ApplyContext) -> None:
        if action.op == "delete":
            self._delete(action, ctx)
            return
        resource = action.desired
        assert resource is not None, f"{action.op} of {action.key} without a desired resource"
        namespace = resource.spec["metadata"].get("namespace") or namespace_of(ctx.app, self.settings)
        self.ensure_namespace(namespace)
        if action.op == "create":
            self._refuse_another_apps(resource.kind, namespace, resource.name, ctx.app.name)
        if action.op == "replace":
            self._remove(resource.kind, namespace, resource.name, ctx, orphan_pods=resource.kind == "StatefulSet")
        obj = with_secret_data(stamped(resource), ctx.app, self.settings)
        verb = {"create": "creating", "update": "updating", "replace": "recreating"}[action.op]
        ctx.progress(f"{resource.kind}/{resource.name}: {verb}")
        self.kube.apply(obj, force=self.force_conflicts(ctx) or _imperative_drift(action))
        if resource.kind in WORKLOADS:
            feeder = feeder_for(self.kube, namespace, obj, ctx.app, resource.service, ctx.progress)
            wait_for_rollout(self.kube, resource.kind, namespace, resource.name, timeout=self.rollout_timeout(ctx), progress=ctx.progress,
                             service=resource.service, each_poll=feeder.step if feeder is not None else None)

    def _refuse_another_apps(self, kind: str, namespace: str, name: str, app: str) -> None:
        """Two apps sharing a namespace must not take over each other's objects.

        Every app applies with the same field manager, so server-side apply would not see a
        conflict: an object that observe did not list as this app's (hence `create`) but that
        exists with another app's labels is refused before it is touched."""
        existing = self.kube.get(kind, namespace, name)
        labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
        owner = labels.get(n.INSTANCE)
        if labels.get(n.MANAGED_BY) == "portable" and owner not in (None, app):
            raise TargetError(
                f"{kind} {name} in namespace {namespace} belongs to app `{owner}`, so app `{app}` cannot create its own",
                hint="give this target its own `namespace`, or rename the service in one of the apps",
            )

    def _delete(self, action: Action, ctx: ApplyContext) -> None:
        namespace = None
        if action.observed is not None:
            namespace = action.observed.info.get("namespace")
        namespace = namespace or namespace_of(ctx.app, self.settings)
        ctx.progress(f"{action.kind}/{action.name}: deleting")
        self._remove(action.kind, namespace, action.name, ctx, orphan_pods=False)

    def _remove(self, kind: str, namespace: str, name: str, ctx: ApplyContext, *, orphan_pods: bool) -> None:
        """Deletes and waits until gone: with Foreground propagation that includes the
        ReplicaSets and Pods, so nothing labelled for the app outlives destroy."""
        propagation = "Orphan" if orphan_pods else "Foreground"
        if self.kube.delete(kind, namespace, name, propagation=propagation):
            wait_until_gone(self.kube, kind, namespace, name, timeout=self.rollout_timeout(ctx), progress=ctx.progress)


def _imperative_drift(action: Action) -> bool:
    """A repair of drift the plan showed takes back the fields `kubectl scale`, `set env` or
    `edit` took (their updates made kubectl their manager); fields another tool declared by
    server-side apply stay a conflict, refused unless --force-conflicts (drift.other_appliers)."""
    return bool(action.repairs) and not (action.observed is not None and action.observed.info.get("appliers"))
