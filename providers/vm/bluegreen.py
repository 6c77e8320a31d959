"""Cloud-neutral rollout of an instance group: blue/green replace, scale, tear down.

A cloud implements `InstanceGroupBackend` (create, wait healthy, register with / deregister
from its load balancer, terminate); these functions decide the order, so every VM target
updates the same way: new instances with the new revision, wait until healthy, put them
behind the load balancer, and only then take the old ones out and terminate them. If
anything fails before the switch, the new instances are removed and the old keep serving.

Groups with data disks cannot run old and new side by side (a disk attaches to one
machine), so they are *recreated* instead: old out and terminated first, then new
instances boot with the same disks. That costs downtime and is reported as progress.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from portable.engine.crashpoints import crashpoint
from portable.plan.resources import Resource

Progress = Callable[[str], None]


@dataclass(frozen=True)
class InstanceRef:
    """One VM of a group, as the cloud knows it."""

    id: str
    replica: int  # index within the group: decides which data disks it gets
    revision: str  # the group revision it was booted with
    address: str | None = None  # private address (what peers and the load balancer use)
    zone: str | None = None


class InstanceGroupBackend(Protocol):
    """What a cloud provides so `roll_out`, `scale` and `tear_down` can drive it.

    Each method acts on the given instances only, waits for its own effect (bounded) and
    raises a portable error (HealthCheckError from wait_healthy) when it cannot.
    """

    def create_instances(self, group: Resource, replicas: Sequence[int]) -> list[InstanceRef]:
        """Boots one instance per replica index with `group.spec['revision']`, attaching its disks.

        Returns once the cloud has accepted them; on failure removes what it created, then raises."""
        ...

    def wait_healthy(self, group: Resource, instances: Sequence[InstanceRef], timeout: float) -> None:
        """Returns when every instance is running and passes the group's health check."""
        ...

    def register_with_lb(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        """Puts instances behind the group's load balancer targets (no-op without any)."""
        ...

    def deregister(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        """Takes instances out of the load balancer (no-op without any)."""
        ...

    def terminate(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        """Terminates instances and waits until their data disks are free again."""
        ...

    def mark_current(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        """Records the group's digest on instances kept by a scale (so observe sees it current)."""
        ...


def _discard(backend: InstanceGroupBackend, group: Resource, instances: Sequence[InstanceRef], progress: Progress) -> None:
    """Best-effort removal of instances that failed; the original error is what the user sees."""
    if not instances:
        return
    progress(f"removing {len(instances)} new instance(s) of {group.name}; the previous ones keep serving")
    for step in (backend.deregister, backend.terminate):
        try:
            step(group, instances)
        except Exception as exc:  # noqa: BLE001 - the first failure is the one to report
            progress(f"{group.name}: could not {step.__name__} {', '.join(i.id for i in instances)} while cleaning up: {exc}")


def _start(backend: InstanceGroupBackend, group: Resource, replicas: Sequence[int], timeout: float, progress: Progress) -> list[InstanceRef]:
    """Create, wait healthy, register: the new instances serve, or none is left behind."""
    if not replicas:
        return []
    progress(f"{group.name}: starting {len(replicas)} instance(s) of revision {group.spec['revision']}")
    new = backend.create_instances(group, replicas)
    crashpoint("vm.after-create-instances")  # tests only (PORTABLE_CRASHPOINT)
    try:
        progress(f"{group.name}: waiting for {', '.join(i.id for i in new)} to become healthy")
        backend.wait_healthy(group, new, timeout)
        backend.register_with_lb(group, new)
        crashpoint("vm.after-register")  # tests only
    except BaseException:
        _discard(backend, group, new, progress)
        raise
    progress(f"{group.name}: {len(new)} new instance(s) healthy and serving")
    return new


def roll_out(
    backend: InstanceGroupBackend,
    group: Resource,
    old: Sequence[InstanceRef],
    *,
    timeout: float,
    progress: Progress = lambda m: None,
) -> list[InstanceRef]:
    """Replaces `old` by instances of `group`'s revision; returns the new instances."""
    replicas = list(range(int(group.spec["replicas"])))
    if group.spec["volumes"] and old:
        progress(f"{group.name}: has data disks, which attach to one machine at a time: stopping the old instances first")
        tear_down(backend, group, old, progress=progress)
        return _start(backend, group, replicas, timeout, progress)
    new = _start(backend, group, replicas, timeout, progress)
    if old:
        progress(f"{group.name}: switching over; terminating {len(old)} old instance(s)")
        tear_down(backend, group, old, progress=progress)
    return new


def scale(
    backend: InstanceGroupBackend,
    group: Resource,
    current: Sequence[InstanceRef],
    *,
    timeout: float,
    progress: Progress = lambda m: None,
) -> list[InstanceRef]:
    """Same revision, new replica count: adds missing replica indices, removes extra ones."""
    want = int(group.spec["replicas"])
    keep = [i for i in current if i.replica < want]
    extra = [i for i in current if i.replica >= want]
    have = {i.replica for i in keep}
    added = _start(backend, group, [r for r in range(want) if r not in have], timeout, progress)
    if extra:
        progress(f"{group.name}: removing {len(extra)} instance(s) beyond {want} replica(s)")
        tear_down(backend, group, extra, progress=progress)
    if keep:
        backend.mark_current(group, keep)
    return keep + added


def tear_down(
    backend: InstanceGroupBackend,
    group: Resource,
    instances: Sequence[InstanceRef],
    *,
    progress: Progress = lambda m: None,
) -> None:
    """Out of the load balancer first, then terminated."""
    if not instances:
        return
    backend.deregister(group, instances)
    crashpoint("vm.after-deregister")  # tests only
    progress(f"{group.name}: terminating {', '.join(i.id for i in instances)}")
    backend.terminate(group, instances)
