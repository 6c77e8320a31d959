"""What the crash matrix needs: the five lab targets (the provider contract suite's, with
Kubernetes on the real node), which crash points a deploy or an update passes, CI's sample of
them, and the count of what a target holds for an app (through the target's own API).

The targets are the contract suite's `ContractTarget`s (tests/providers/contract): the same
settings a user writes and the same SDK reads (docker SDK, kubernetes client, boto3 on moto,
pyVmomi on vcsim), so nothing here second-guesses portable with portable's own code.
"""
from __future__ import annotations

import datetime
import sys
import uuid
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "providers" / "contract"))

from contract_engines import KubernetesTarget  # noqa: E402
from contract_targets import TARGETS, ContractTarget  # noqa: E402

from portable.engine.crashpoints import STATE  # noqa: E402

#: Kinds whose extra members are a create done twice (the rest, left over, are orphans).
INSTANCE_KINDS = frozenset({"containers", "deployments", "statefulsets", "pods", "instances", "vms"})


class RealNodeKubernetesTarget(KubernetesTarget):
    """The kubernetes target with its pods on the lab's real node (kubelet + containerd), so
    readiness is the container's and a killed rollout leaves real pods behind."""

    components = ("k8s", "k8s_node", "registry")

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        super().__init__(lab_env, tmp)
        self.namespace = f"hard-{uuid.uuid4().hex[:8]}"
        key, value = lab_env["LAB_K8S_REAL_NODE_LABEL"].split("=", 1)
        effect = lab_env["LAB_K8S_REAL_NODE_TAINT"].rsplit(":", 1)[1]
        self.node = {"node_selector": {key: value}, "tolerations": [{"key": key, "operator": "Equal", "value": value, "effect": effect}]}

    def settings(self, app: str) -> dict[str, Any]:
        return {**super().settings(app), **self.node, "rollout_timeout": "180s"}

    def objects(self, app: str) -> dict[str, list[str]]:
        """As the contract's, without pods being deleted (a replaced pod terminating is not kept)."""
        found = super().objects(app)
        live = self.core.list_namespaced_pod(self.namespace, label_selector=f"{self.INSTANCE}={app}").items
        found["pods"] = sorted(p.metadata.name for p in live if p.metadata.deletion_timestamp is None)
        return found


def hardening_targets() -> dict[str, type[ContractTarget]]:
    """provider -> target class: the contract's five, Kubernetes on the real node."""
    return {**TARGETS, "kubernetes": RealNodeKubernetesTarget}


def counts(objects: dict[str, list[str]]) -> dict[str, int]:
    return {kind: len(names) for kind, names in objects.items() if names}


def excess(found: dict[str, int], expected: dict[str, int]) -> tuple[int, int]:
    """(duplicates, orphans): members beyond what an uninterrupted run leaves, by kind."""
    dup = orphan = 0
    for kind, n in found.items():
        extra = max(0, n - expected.get(kind, 0))
        if kind in INSTANCE_KINDS:
            dup += extra
        else:
            orphan += extra
    return dup, orphan


#: Providers whose services are VM groups rolled out blue/green (providers/vm/bluegreen.py).
VM_PROVIDERS = frozenset({"aws", "libcloud", "vsphere"})


def crash_points_of(actions: Sequence[dict[str, Any]], vm_rollout: tuple[str, ...] = ()) -> list[str]:
    """Every crash point a run of `actions` passes: after each action's call (`op:N` for the
    N-th of its kind), around each state write, and `vm_rollout`'s points inside the one VM
    group's blue/green rollout."""
    per_op: dict[str, int] = {}
    for action in actions:
        per_op[action["op"]] = per_op.get(action["op"], 0) + 1
    applied = [f"apply.after-{op}:{n}" for op, total in sorted(per_op.items()) for n in range(1, total + 1)]
    return [STATE[0], STATE[1], *vm_rollout, *applied, STATE[2], STATE[3]]


def sample(points: Sequence[str], k: int, salt: str, full: bool) -> list[str]:
    """All of `points` with --full; else `k` of them, evenly spread from an offset that moves
    each day (deterministic for a given day and salt, so a failure reproduces the same day)."""
    if full or len(points) <= k:
        return list(points)
    offset = (datetime.date.today().toordinal() + zlib.crc32(salt.encode())) % len(points)
    step = len(points) / k
    chosen = sorted({(offset + round(i * step)) % len(points) for i in range(k)})
    return [points[i] for i in chosen]


def ci_sample(points: Sequence[str], k: int, salt: str, full: bool) -> list[str]:
    """`sample`, but CI's always holds an action's crash point (the state writes' are cheaper
    to survive: the interesting kills are those that leave a half-made target)."""
    if full:
        return list(points)
    applied = [p for p in points if p.startswith(("apply.", "vm."))]
    rest = [p for p in points if not p.startswith(("apply.", "vm."))]
    return sample(applied, 1, salt, False) + sample(rest, k - 1, salt, False) if applied and k > 1 else sample(applied or rest, k, salt, False)
