"""Replicas ready / desired per service while a plan is applied, reported as STEP events.

Provider-neutral: a resource's replica count is read from its spec the way every provider
writes it: `replicas` (VM groups on AWS, libcloud and vSphere), `spec.replicas` (Kubernetes
Deployments and StatefulSets), `replica` (one Docker container per replica). Other resources
of a service (its Service, proxy, config) count none. A service's replicas untouched by the
plan are ready from the start; each applied action adds its replicas once it is healthy
(providers return from `apply` only then), so a service ends at desired/desired.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from portable.engine.progress import STEP, Progress, emit
from portable.plan.plan import Action, Plan
from portable.plan.resources import Resource


def replica_units(resource: Resource | None) -> int:
    """How many replicas `resource` runs (0 for a service's non-workload resources)."""
    if resource is None:
        return 0
    spec = resource.spec
    if isinstance(spec.get("replicas"), int):
        return int(spec["replicas"])
    inner = spec.get("spec")
    if isinstance(inner, Mapping) and isinstance(inner.get("replicas"), int):
        return int(inner["replicas"])
    return 1 if isinstance(spec.get("replica"), int) else 0


def desired_replicas(resources: Iterable[Resource]) -> dict[str, int]:
    """service -> replicas the resources describe (a destroy's empty list: none)."""
    out: dict[str, int] = {}
    for res in resources:
        if res.service is not None:
            out[res.service] = out.get(res.service, 0) + replica_units(res)
    return out


class ServiceTally:
    """Counts, under a lock (actions run on worker threads), what each service has left."""

    def __init__(self, plan: Plan, progress: Progress, desired: Iterable[Resource] | None = None) -> None:
        self._lock = threading.Lock()
        self._progress = progress
        actions = [a for a in plan.actions if a.service is not None]
        self._want = desired_replicas(desired) if desired is not None else desired_replicas(a.desired for a in actions if a.desired is not None)
        self._shared_left = len(plan.actions) - len(actions)  # the app's resources of no service (network, volumes, ...)
        self._left: dict[str, int] = {}
        changing: dict[str, int] = {}
        for a in actions:
            svc = str(a.service)
            self._left[svc] = self._left.get(svc, 0) + 1
            if a.op != "delete":
                changing[svc] = changing.get(svc, 0) + replica_units(a.desired)
        self._ready = {svc: max(0, self._want.get(svc, 0) - changing.get(svc, 0)) for svc in self._left}

    def start(self) -> None:
        """One silent event per service in the plan: its row, before anything happens."""
        for svc in sorted(self._left):
            emit(self._progress, "", kind=STEP, service=svc, step="waiting", ready=self._ready[svc], desired=self._want.get(svc, 0))

    def begin(self, action: Action, text: str) -> None:
        with self._lock:
            fields = self._fields(action)
        emit(self._progress, text, kind=STEP, step=text, **fields)

    def end(self, action: Action, text: str) -> None:
        with self._lock:
            svc = action.service
            if svc is None:
                self._shared_left -= 1
            elif svc in self._left:
                self._left[svc] -= 1
                if action.op != "delete":
                    self._ready[svc] = min(self._want.get(svc, 0), self._ready[svc] + replica_units(action.desired))
            fields = self._fields(action)
        emit(self._progress, text, kind=STEP, step=text, **fields)

    def _fields(self, action: Action) -> dict[str, object]:
        svc = action.service
        if svc is None or svc not in self._left:
            return {"service": None, "finished": self._shared_left <= 0}
        return {"service": svc, "ready": self._ready[svc], "desired": self._want.get(svc, 0), "finished": self._left[svc] == 0}
