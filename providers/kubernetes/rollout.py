"""Waits for a workload's rollout and explains a failed one with pod events and log lines.

A rollout is done when the controller has seen the latest spec (observedGeneration), every
replica runs the new template (updatedReplicas) and is available, no old replica is left,
and the pods report Ready. On timeout the error carries, for each pod that is not Ready,
its waiting reasons, its latest events and its last log lines.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from portable.engine import cancel
from portable.engine.progress import STEP, emit
from portable.errors import HealthCheckError, PortableError
from portable.providers.kubernetes.client import Kube

Progress = Callable[[str], None]
LOG_LINES = 20
EVENTS_PER_POD = 6


def _selector(obj: dict[str, Any]) -> str:
    labels = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def pod_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def rollout_state(obj: dict[str, Any]) -> tuple[bool, str, str | None]:
    """(done, one-line progress, fatal reason) for a Deployment or StatefulSet as last read."""
    spec, st = obj.get("spec", {}), obj.get("status") or {}
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    generation = obj.get("metadata", {}).get("generation", 0)
    seen = st.get("observedGeneration", 0) >= generation
    updated = int(st.get("updatedReplicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    ready = int(st.get("readyReplicas") or 0)
    total = int(st.get("replicas") or 0)
    line = f"{updated}/{desired} updated, {ready} ready, {available} available"
    if total > desired:
        line += f", {total - desired} old replica(s) still running"
    if obj["kind"] == "Deployment":
        for c in st.get("conditions") or []:
            if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
                return False, line, c.get("message") or "progress deadline exceeded"
        done = seen and updated >= desired and total == desired and available >= desired and not st.get("unavailableReplicas")
    else:
        same_revision = st.get("updateRevision") in (None, st.get("currentRevision")) or updated >= desired
        done = seen and updated >= desired and ready >= desired and available >= desired and total == desired and same_revision
    if not seen:
        line = "waiting for the controller to see the new spec; " + line
    return done, line, None


def unstick_statefulset(kube: Kube, obj: dict[str, Any], deleted: set[str]) -> None:
    """Deletes not-Ready pods of an old revision so the controller recreates them from the
    current template (the documented manual step a StatefulSet rollback otherwise needs)."""
    st = obj.get("status") or {}
    revision = st.get("updateRevision")
    if not revision:
        return
    ns = obj["metadata"]["namespace"]
    for pod in kube.list("Pod", ns, _selector(obj)):
        name = pod["metadata"]["name"]
        labels = pod["metadata"].get("labels", {})
        if labels.get("controller-revision-hash") != revision and not pod_ready(pod) and name not in deleted:
            deleted.add(name)
            kube.delete("Pod", ns, name, propagation="Background")


def replicas_ready(obj: dict[str, Any]) -> tuple[int, int]:
    """(ready at the new template, desired) as last read: the fewer of updatedReplicas and
    readyReplicas, so old pods still Ready during an update do not count."""
    spec, st = obj.get("spec", {}), obj.get("status") or {}
    desired = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    return min(int(st.get("updatedReplicas") or 0), int(st.get("readyReplicas") or 0), desired), desired


def wait_for_rollout(kube: Kube, kind: str, namespace: str, name: str, *, timeout: float, progress: Progress,
                     service: str | None = None, each_poll: Callable[[], None] | None = None) -> None:
    """Returns once the workload is fully rolled out; raises HealthCheckError on timeout.
    `each_poll` runs between polls (a migration's archives fed into waiting pods, feed.py).

    Each changed status line is one progress line; for `service` it also carries the
    replicas ready so far, so the live table counts 0/2, 1/2, 2/2 as the pods come up."""
    start = time.monotonic()
    deadline = start + timeout
    delay, last_line = 0.2, ""
    kicked: set[str] = set()
    while True:
        obj = kube.get(kind, namespace, name)
        if obj is None:
            raise HealthCheckError(f"{kind} {name} in namespace {namespace} disappeared while rolling out")
        done, line, fatal = rollout_state(obj)
        if line != last_line:
            ready, desired = replicas_ready(obj)
            text = f"{kind}/{name}: {line}"
            emit(progress, text, kind=STEP, step=text, **({"service": service, "ready": ready, "desired": desired} if service else {}))
            last_line = line
        if done:
            return
        if each_poll is not None:
            each_poll()
        if kind == "StatefulSet" and time.monotonic() - start > 2:
            unstick_statefulset(kube, obj, kicked)
        if fatal or time.monotonic() >= deadline:
            why = fatal or f"not available within {timeout:.0f}s"
            raise HealthCheckError(
                f"{kind} {name} in namespace {namespace} did not roll out: {why} ({line})",
                details=diagnose(kube, obj),
                hint=f"kubectl -n {namespace} describe {kind.lower()} {name}",
            )
        cancel.pause(delay)
        delay = min(delay * 1.5, 1.0)


def _pod_problems(pod: dict[str, Any]) -> list[str]:
    st = pod.get("status", {})
    out = [f"phase {st.get('phase', '?')}"]
    for c in st.get("conditions") or []:
        if c.get("status") != "True" and (c.get("reason") or c.get("message")):
            out.append(f"{c['type']}: {c.get('reason', '')} {c.get('message', '')}".strip())
    for cs in st.get("containerStatuses") or []:
        for state_name in ("waiting", "terminated"):
            state = (cs.get("state") or {}).get(state_name)
            if state:
                out.append(f"container {cs.get('name')} {state_name}: {state.get('reason', '')} {state.get('message', '')}".strip())
    return out


def pod_logs(kube: Kube, namespace: str, pod: str, tail: int = LOG_LINES) -> list[str]:
    try:
        text = kube.core().read_namespaced_pod_log(pod, namespace, tail_lines=tail)
    except Exception:  # noqa: BLE001 - logs are a best-effort extra in an error report
        return []
    return str(text or "").splitlines()[-tail:]


def diagnose(kube: Kube, obj: dict[str, Any]) -> str:
    """Not-Ready pods of the workload: why, their latest events, their last log lines."""
    ns = obj["metadata"]["namespace"]
    lines: list[str] = []
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("status") != "True" and c.get("message"):
            lines.append(f"{obj['kind']} condition {c['type']}: {c['message']}")
    try:
        pods = kube.list("Pod", ns, _selector(obj))
    except PortableError as exc:
        return "\n".join(lines + [f"(could not list pods: {exc.message})"])
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if pod_ready(pod):
            continue
        name = pod["metadata"]["name"]
        lines.append(f"pod {name}: " + "; ".join(_pod_problems(pod)))
        try:
            events = kube.list("Event", ns, field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}")
        except PortableError:
            events = []
        events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or e["metadata"].get("creationTimestamp") or "")
        for e in events[-EVENTS_PER_POD:]:
            lines.append(f"  event {e.get('type', '')} {e.get('reason', '')}: {(e.get('message') or '').strip()}")
        logs = pod_logs(kube, ns, name)
        if logs:
            lines.append("  last log lines:")
            lines += [f"    {line}" for line in logs]
    return "\n".join(lines)


def wait_until_gone(kube: Kube, kind: str, namespace: str | None, name: str, *, timeout: float, progress: Progress) -> None:
    deadline = time.monotonic() + timeout
    delay, said = 0.2, False
    while kube.get(kind, namespace, name) is not None:
        if time.monotonic() >= deadline:
            raise HealthCheckError(f"{kind} {name} in namespace {namespace} was not deleted within {timeout:.0f}s (finalizers or dependents remain)")
        if not said:
            progress(f"{kind}/{name}: waiting for deletion")
            said = True
        cancel.pause(delay)
        delay = min(delay * 1.5, 1.0)
