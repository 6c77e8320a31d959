"""The target's node_selector and tolerations choose the nodes of every pod portable runs.

The lab uses them to put pods on its real node (label and taint portable.dev/lab-node=real);
without them nothing changes in the rendered objects.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from test_k8s_translate import MANIFEST, translate

from portable.errors import ManifestError

PLACED = MANIFEST.replace(
    "    public_service_type: NodePort\n",
    "    public_service_type: NodePort\n"
    "    node_selector: {portable.dev/lab-node: real}\n"
    "    tolerations:\n"
    "      - {key: portable.dev/lab-node, operator: Equal, value: real, effect: NoSchedule}\n",
)


def test_every_workload_gets_the_node_selector_and_toleration(tmp_path: Path) -> None:
    res = translate(tmp_path, PLACED)
    workloads = [r for r in res.values() if r.kind in ("Deployment", "StatefulSet")]
    assert {r.name for r in workloads} == {"web", "db", "jobs"}
    for r in workloads:
        pod = r.spec["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"portable.dev/lab-node": "real"}, r.key
        assert pod["tolerations"] == [{"key": "portable.dev/lab-node", "operator": "Equal", "value": "real", "effect": "NoSchedule"}], r.key


def test_without_placement_pods_have_no_node_fields_and_digests_stay(tmp_path: Path) -> None:
    plain = translate(tmp_path)
    for r in plain.values():
        if r.kind in ("Deployment", "StatefulSet"):
            assert "nodeSelector" not in r.spec["spec"]["template"]["spec"]
            assert "tolerations" not in r.spec["spec"]["template"]["spec"]
    placed = translate(tmp_path, PLACED)
    assert placed["Deployment/web"].digest != plain["Deployment/web"].digest  # moving pods is a change to apply


def test_a_bad_toleration_effect_names_its_path(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as err:
        translate(tmp_path, PLACED.replace("effect: NoSchedule", "effect: Never"))
    assert "portable.yaml:38:76: targets.k8s.tolerations[0].effect" in str(err.value) and "NoExecute" in str(err.value)
    assert err.value.exit_code == 2
