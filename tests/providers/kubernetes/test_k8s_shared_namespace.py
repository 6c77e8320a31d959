"""Two apps on one Kubernetes target namespace: an app cannot take over the objects of
another app that happen to have the same names (both apply with field manager `portable`,
so server-side apply alone would let the second overwrite the first's Service)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from k8s_helpers import kubectl

pytestmark = pytest.mark.lab("k8s")


def _manifest(folder: Path, app: str, namespace: str, kubeconfig: str) -> Path:
    folder.mkdir(parents=True)
    path = folder / "portable.yaml"
    path.write_text(f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {app}}}
services:
  web:
    image: lab/web:1
    ports: [{{port: 8080}}]
targets:
  k8s: {{provider: kubernetes, kubeconfig: {kubeconfig}, context: lab, namespace: {namespace}}}
""")
    return path


def _cli(manifest: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    state = manifest.parent / "state.db"
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(manifest), "-t", "k8s", "--state", str(state)],
                          env=env, capture_output=True, text=True, timeout=300)


def _objects(kubeconfig: str, namespace: str) -> dict[str, tuple[str, str, str]]:
    """kind/name -> (uid, resourceVersion, app label) of the Deployments and Services."""
    found = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "deployments,services", "-o", "json").stdout)["items"]
    return {f"{o['kind']}/{o['metadata']['name']}": (o["metadata"]["uid"], o["metadata"]["resourceVersion"],
                                                      o["metadata"]["labels"].get("app.kubernetes.io/instance", ""))
            for o in found}


def test_a_second_app_with_the_same_service_name_is_refused_and_the_first_is_untouched(
    k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path
) -> None:
    first = _manifest(tmp_path / "first", "alpha", namespace, k8s_kubeconfig)
    second = _manifest(tmp_path / "second", "beta", namespace, k8s_kubeconfig)
    done = _cli(first, "deploy", "--yes", env=k8s_env)
    assert done.returncode == 0, done.stdout + done.stderr
    before = _objects(k8s_kubeconfig, namespace)
    assert {v[2] for v in before.values()} == {"alpha"} and set(before) == {"Deployment/web", "Service/web"}

    refused = _cli(second, "deploy", "--yes", env=k8s_env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"web in namespace {namespace} belongs to app `alpha`, so app `beta` cannot create its own" in refused.stderr
    assert "own `namespace`" in refused.stderr
    assert _objects(k8s_kubeconfig, namespace) == before  # same objects, same versions, still alpha's

    # the first app still sees exactly its own objects
    plan = _cli(first, "plan", "-o", "json", env=k8s_env)
    assert plan.returncode == 0 and json.loads(plan.stdout)["actions"] == [], plan.stdout + plan.stderr
