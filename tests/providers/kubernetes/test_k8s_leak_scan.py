"""The leak scanner on Kubernetes (the lab's apiserver): the secret's value is in its
Secret's data (the cluster's secret store) and nowhere else: not the CLI's output, the
state, a saved plan, or any object's labels, annotations and pod template."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import kubectl

pytestmark = pytest.mark.lab("k8s")

MANIFEST = """
apiVersion: portable/v1
kind: Application
metadata: {name: leakkube}
services:
  web:
    image: lab/web:1
    ports: [{port: 8080}]
    secrets: [token]
secrets: {token: {from: "env:LEAK_API_TOKEN"}}
"""


def test_a_kubernetes_secret_stays_in_the_secret_data(tmp_path: Path, leak_secrets: Any, k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str]) -> None:
    data = yaml.safe_load(MANIFEST)
    data["targets"] = {"k8s": {"provider": "kubernetes", "kubeconfig": k8s_kubeconfig, "namespace": namespace, "rollout_timeout": "120s"}}
    (tmp_path / "portable.yaml").write_text(yaml.safe_dump(data))
    env = {**k8s_env, **leak_secrets.env}
    state = tmp_path / "state.db"
    leak_secrets.watch(state, tmp_path / "plan.json")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return leak_secrets.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(tmp_path / "portable.yaml"), "-t", "k8s", "--state", str(state)], env=env, timeout=400)

    def objects() -> list[Any]:
        out = kubectl(k8s_kubeconfig, "-n", namespace, "get", "deployments,services,secrets,configmaps", "-o", "json")
        items = json.loads(out.stdout)["items"]
        for o in items:  # a Secret's data is the cluster's secret store: expected to hold it
            o.pop("data", None)
            o["metadata"].get("annotations", {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
            o["metadata"].pop("managedFields", None)
        return items

    leak_secrets.probe("Kubernetes objects (metadata, specs; Secret data excepted)", objects)
    planned = cli("plan", "--out", str(tmp_path / "plan.json"))
    assert planned.returncode == 0, planned.stderr
    done = cli("deploy", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    secret = json.loads(kubectl(k8s_kubeconfig, "-n", namespace, "get", "secret", "-l", "app.kubernetes.io/instance=leakkube", "-o", "json").stdout)["items"]
    assert secret and leak_secrets.value("LEAK_API_TOKEN") in str([__import__("base64").b64decode(v).decode() for s in secret for v in s.get("data", {}).values()])
    assert leak_secrets.scan() == []
