"""Drift on Kubernetes (the lab's apiserver): `kubectl scale` and `kubectl set env` made
behind portable's back are listed by `plan`, exit 2 with --detailed-exitcode, and repaired
by `deploy`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from drift_support import drift_app, drift_cycle

from contract_base import wait_until  # noqa: E402  (on sys.path through drift_support)

pytestmark = pytest.mark.lab("k8s")


def _kubectl(target: Any, *args: str) -> str:
    import subprocess

    done = subprocess.run(["kubectl", "--kubeconfig", target.kubeconfig, "--context", "lab", "-n", target.namespace, *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_kubectl_scale_is_drift_that_deploy_repairs(lab: Any, tmp_path: Path) -> None:
    with drift_app(lab, "kubernetes", tmp_path, CT_REPLICAS="3") as (target, app):
        deployment = lambda: target.apps.read_namespaced_deployment("web", target.namespace)
        entry = drift_cycle(
            app, "kubernetes",
            edit=lambda: _kubectl(target, "scale", "deployment/web", "--replicas=1"),
            settle=lambda: wait_until(lambda: deployment().spec.replicas == 1, 30),
            service="web", field="replicas",
        )
        assert (entry["desired"], entry["live"], entry["hint"]) == (3, 1, "kubectl scale?")
        assert deployment().spec.replicas == 3, "deploy did not scale the Deployment back to the manifest's 3"


def test_kubectl_set_env_is_drift_that_deploy_repairs(lab: Any, tmp_path: Path) -> None:
    with drift_app(lab, "kubernetes", tmp_path, CT_GREETING="hello") as (target, app):
        env = lambda: {e.name: e.value for e in target.apps.read_namespaced_deployment("web", target.namespace).spec.template.spec.containers[0].env or []}
        entry = drift_cycle(
            app, "kubernetes",
            edit=lambda: _kubectl(target, "set", "env", "deployment/web", "GREETING=changed-by-hand"),
            settle=lambda: wait_until(lambda: env().get("GREETING") == "changed-by-hand", 30),
            service="web", field="env.GREETING",
        )
        assert entry["hint"] == "kubectl set env?"
        assert "changed-by-hand" not in str(entry), "an env value set by hand is printed (it may be a secret)"
        assert env().get("GREETING") == "hello", "deploy did not put the manifest's GREETING back"


def test_kubectl_delete_is_drift_that_deploy_repairs(lab: Any, tmp_path: Path) -> None:
    from kubernetes.client.exceptions import ApiException

    def gone() -> bool:
        try:
            target.apps.read_namespaced_deployment("web", target.namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    with drift_app(lab, "kubernetes", tmp_path) as (target, app):
        entry = drift_cycle(app, "kubernetes", edit=lambda: _kubectl(target, "delete", "deployment/web", "--wait=true"),
                            settle=lambda: wait_until(gone, 30), service="web", field="removed")
        assert (entry["resource"], entry["hint"]) == ("Deployment/web", "kubectl delete?")
        assert not gone(), "deploy did not create the deleted Deployment again"
