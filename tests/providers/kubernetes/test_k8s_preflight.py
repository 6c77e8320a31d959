"""Bad registry input on a kubernetes target is refused while planning (issue 17).

`registries[].password_secret` naming a secret the manifest does not declare, and
`image_pull_secrets` naming a Secret the namespace lacks: each
`portable deploy` against the lab's apiserver exits 2 with the field path, and afterwards
the namespace does not exist and nothing of the app does (before the check, the namespace
and the app's objects were created and the pull Secret failed last; a missing pull Secret
was not noticed at all). A declared secret whose source is unset was already refused while
planning (App.check_secrets).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from k8s_helpers import example_with_target, kubectl

pytestmark = pytest.mark.lab("k8s")


def deploy(manifest: Path, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portable.cli.main", "deploy", "-f", str(manifest), "--target", "k8s", "--yes", "--state", str(tmp_path / "s.db")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=400)


def settings(kubeconfig: str, namespace: str, **extra: Any) -> dict[str, Any]:
    return {"kubeconfig": kubeconfig, "namespace": namespace, "storage_class": "standard", "rollout_timeout": "60s", **extra}


def nothing_exists(kubeconfig: str, namespace: str) -> None:
    """The namespace was not created, and no object anywhere carries the app's label."""
    ns = kubectl(kubeconfig, "get", "namespace", namespace, "-o", "name", check=False)
    assert ns.returncode != 0 and "NotFound" in ns.stderr, ns.stdout + ns.stderr
    found = kubectl(kubeconfig, "get", "deployments,statefulsets,services,secrets,configmaps,persistentvolumeclaims", "--all-namespaces",
                    "-l", "app.kubernetes.io/instance=hello", "-o", "json")
    assert [o["metadata"]["namespace"] for o in json.loads(found.stdout)["items"] if o["metadata"]["namespace"] == namespace] == []


def refused(run: subprocess.CompletedProcess[str], field: str, *words: str) -> None:
    assert run.returncode == 2, run.stdout + run.stderr
    assert field in run.stderr and "portable.yaml:" in run.stderr, run.stderr
    for word in words:
        assert word in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_registry_password_secret_not_declared(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    reg = [{"server": "registry.example.test:5000", "username": "ci", "password_secret": "no-such-secret"}]
    manifest = example_with_target("hello", tmp_path, "k8s", settings(k8s_kubeconfig, namespace, registries=reg))
    refused(deploy(manifest, k8s_env, tmp_path), "targets.k8s.registries[0].password_secret", "no-such-secret")
    nothing_exists(k8s_kubeconfig, namespace)


def test_image_pull_secret_missing_from_namespace(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("hello", tmp_path, "k8s", settings(k8s_kubeconfig, namespace, image_pull_secrets=["pf-no-such-pull-secret"]))
    refused(deploy(manifest, k8s_env, tmp_path), "targets.k8s.image_pull_secrets[0]", "pf-no-such-pull-secret", namespace)
    nothing_exists(k8s_kubeconfig, namespace)
