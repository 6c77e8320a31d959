"""`portable exec`, `scale` and `restart` on the lab apiserver with the real node (kwok's pods
cannot exec): the command runs in the service's pod and its exit code is portable's; a scale
is a `scale` revision that really changes the Deployment's ready pods; a restart rolls new
pods; every JSON output valid.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from json_schemas import validate
from k8s_helpers import add_target, kubectl

pytestmark = [pytest.mark.lab("k8s", "k8s_node"), pytest.mark.timeout(600)]

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: verbs-k8s}
services:
  web:
    image: lab/web:1
    env: {GREETING: verbs}
    ports: [{port: 8080, protocol: http}]
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 1s, timeout: 2s, retries: 10}
"""


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portable.cli.main", args[0], "-t", "k8s", *args[1:]], capture_output=True, text=True, cwd=folder,
                          env=dict(os.environ), timeout=400)


def _ready_pods(kubeconfig: str, namespace: str) -> list[str]:
    out = json.loads(kubectl(kubeconfig, "-n", namespace, "get", "pods", "-l", "app.kubernetes.io/instance=verbs-k8s", "-o", "json").stdout)
    return sorted(p["metadata"]["name"] for p in out["items"] if not p["metadata"].get("deletionTimestamp")
                  and all(c.get("ready") for c in p.get("status", {}).get("containerStatuses", [{}])))


def test_exec_and_scale_on_the_real_node(k8s_kubeconfig: str, namespace: str, real_node: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    add_target(manifest, "k8s", {"kubeconfig": k8s_kubeconfig, "namespace": namespace, "rollout_timeout": "180s", **real_node.target_settings})
    deployed = _cli(tmp_path, "deploy", "--yes", "--quiet")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    out = _cli(tmp_path, "exec", "web", "--", "sh", "-c", "echo $GREETING; echo to-err >&2; exit 5")
    assert out.returncode == 5, out.stderr
    assert out.stdout == "verbs\n" and "to-err" in out.stderr
    missing = _cli(tmp_path, "exec", "web", "-o", "json", "--", "no-such-command")
    doc = validate("exec", json.loads(missing.stdout))
    assert missing.returncode == doc["exit"] != 0 and "no-such-command" in doc["stderr"]

    scaled = _cli(tmp_path, "scale", "web=2", "-o", "json")
    assert scaled.returncode == 0, scaled.stderr
    rev = validate("revision", json.loads(scaled.stdout))
    assert rev["kind"] == "scale" and rev["revision"] == 2
    assert len(_ready_pods(k8s_kubeconfig, namespace)) == 2  # health-gated: both ready when scale returns
    second = _cli(tmp_path, "exec", "web", "--replica", "2", "--", "hostname")
    assert second.returncode == 0 and second.stdout.strip() in _ready_pods(k8s_kubeconfig, namespace)
    plan = validate("plan", json.loads(_cli(tmp_path, "plan", "-o", "json").stdout))
    assert "web replicas 2 (scaled by `portable scale`, manifest says 1)" in plan["warnings"] and not plan["actions"]
    before = _ready_pods(k8s_kubeconfig, namespace)
    restarted = _cli(tmp_path, "restart", "web", "-o", "json")
    assert restarted.returncode == 0, restarted.stderr
    assert validate("revision", json.loads(restarted.stdout))["kind"] == "restart"
    after = _ready_pods(k8s_kubeconfig, namespace)
    assert len(after) == 2 and not set(after) & set(before)  # a rolling update: two new ready pods
    _cli(tmp_path, "destroy", "--yes", "--quiet")
