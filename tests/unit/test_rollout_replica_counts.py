"""The replicas the live table shows for a Kubernetes workload while it rolls out
(providers/kubernetes/rollout.py replicas_ready): pods of the new template that are Ready,
never more than desired, and old pods still Ready during an update not counted."""
from __future__ import annotations

from typing import Any

from portable.providers.kubernetes.rollout import replicas_ready


def _deployment(desired: int | None, **status: int) -> dict[str, Any]:
    spec = {} if desired is None else {"replicas": desired}
    return {"kind": "Deployment", "spec": spec, "status": status}


def test_a_fresh_rollout_counts_up_as_pods_become_ready() -> None:
    assert replicas_ready(_deployment(2)) == (0, 2)  # no status yet
    assert replicas_ready(_deployment(2, updatedReplicas=2, replicas=2)) == (0, 2)
    assert replicas_ready(_deployment(2, updatedReplicas=2, readyReplicas=1, replicas=2)) == (1, 2)
    assert replicas_ready(_deployment(2, updatedReplicas=2, readyReplicas=2, replicas=2)) == (2, 2)


def test_old_pods_still_ready_during_an_update_do_not_count() -> None:
    assert replicas_ready(_deployment(2, updatedReplicas=1, readyReplicas=2, replicas=3)) == (1, 2)
    assert replicas_ready(_deployment(2, updatedReplicas=2, readyReplicas=3, replicas=3)) == (2, 2)


def test_a_workload_without_replicas_in_its_spec_wants_one() -> None:
    assert replicas_ready(_deployment(None, updatedReplicas=1, readyReplicas=1)) == (1, 1)
