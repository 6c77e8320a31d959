"""The kubernetes target on the lab's real node (kubelet + containerd), where pods really run.

kwok's nodes (test_k8s_lab.py) prove the control plane: objects, rollouts as statuses,
binding. Here the target's node_selector/tolerations put the app's pods on the real node, so
what a user notices is real: readiness probes are answered by the container, a revision whose
probe fails is rolled back, the app serves through its Service, and `portable logs` shows what
the container printed.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from k8s_helpers import example_with_target, kubectl

from portable import api
from portable.errors import HealthCheckError

pytestmark = [pytest.mark.lab("k8s", "k8s_node", "registry"), pytest.mark.timeout(600)]


def target(kubeconfig: str, namespace: str, real_node: Any, **extra: Any) -> dict[str, Any]:
    return {"kubeconfig": kubeconfig, "namespace": namespace, "storage_class": "standard", "rollout_timeout": "180s",
            **real_node.target_settings, **extra}


def pods(kubeconfig: str, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = kubectl(kubeconfig, "-n", namespace, "get", "pods", "-l", selector, "-o", "json")
    return [p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def eventually(what: str, fn: Any, timeout: float = 60) -> Any:
    end = time.monotonic() + timeout
    while True:
        try:
            value = fn()
            if value:
                return value
        except OSError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"timeout ({timeout}s) waiting for {what}")
        time.sleep(0.5)


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=400)


def test_hello_rolls_out_with_real_readiness_and_serves_through_its_service(
        k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], real_node: Any, tmp_path: Path) -> None:
    manifest = example_with_target("hello", tmp_path, "k8s", target(k8s_kubeconfig, namespace, real_node))
    state = tmp_path / "state.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env)
    [pod] = pods(k8s_kubeconfig, namespace, "app.kubernetes.io/instance=hello")
    assert pod["spec"]["nodeName"] == real_node.name
    assert all(c["ready"] for c in pod["status"]["containerStatuses"])
    ip = kubectl(k8s_kubeconfig, "-n", namespace, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
    port = kubectl(k8s_kubeconfig, "-n", namespace, "get", "service", "web", "-o", "jsonpath={.spec.ports[0].port}").stdout
    first = eventually("the app through its ClusterIP", lambda: get(f"http://{ip}:{port}/cgi-bin/count"))
    assert first.strip() == "count=1 greeting=hello from portable"

    api.deploy(manifest, "k8s", state=state, env={**k8s_env, "GREETING": "hello again"})
    [new] = eventually("only the new pod", lambda: (p if len(p := pods(k8s_kubeconfig, namespace, "app.kubernetes.io/instance=hello")) == 1
                                                    and p[0]["metadata"]["uid"] != pod["metadata"]["uid"] else None))
    assert new["spec"]["nodeName"] == real_node.name
    assert eventually("the new revision's answer", lambda: "greeting=hello again" in get(f"http://{ip}:{port}/cgi-bin/count"))


def test_revision_failing_its_readiness_probe_is_rolled_back_and_the_old_pod_keeps_serving(
        k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], real_node: Any, tmp_path: Path) -> None:
    manifest = example_with_target("hello", tmp_path, "k8s", target(k8s_kubeconfig, namespace, real_node))
    state = tmp_path / "state.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env)
    [good] = pods(k8s_kubeconfig, namespace, "app.kubernetes.io/instance=hello")
    # the new revision's container runs, but its health path answers 404: the kubelet's probes fail
    broken = {**k8s_env, "WEB_HEALTH_PATH": "/cgi-bin/missing", "GREETING": "broken"}
    with pytest.raises(HealthCheckError) as failure:
        api.deploy(manifest, "k8s", state=state, env=broken, timeout=25)
    message = str(failure.value)
    assert "Deployment web" in message and "rolled back to revision 1" in message, message
    assert "probe failed with statuscode: 404" in message, message   # the kubelet's own words
    left = eventually("the broken pod gone", lambda: (p if len(p := pods(k8s_kubeconfig, namespace, "app.kubernetes.io/instance=hello")) == 1 else None))
    assert left[0]["metadata"]["uid"] == good["metadata"]["uid"], "the good pod was replaced"
    answer = get(f"http://{good['status']['podIP']}:8080/cgi-bin/count")
    assert "greeting=hello from portable" in answer


WORKER = """\
apiVersion: portable/v1
kind: Application
metadata: {name: beats}
services:
  worker:
    image: lab/worker:1
    env: {WORKER_NAME: real-node, INTERVAL: "1"}
"""


def test_logs_show_what_the_container_printed(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], real_node: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "portable.yaml"
    settings = target(k8s_kubeconfig, namespace, real_node)
    import yaml

    manifest.write_text(WORKER + yaml.safe_dump({"targets": {"k8s": {"provider": "kubernetes", **settings}}}))
    state = tmp_path / "s.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env)
    [pod] = pods(k8s_kubeconfig, namespace, "app.kubernetes.io/instance=beats")
    assert pod["spec"]["nodeName"] == real_node.name

    def two_beats() -> str | None:
        run = cli("logs", "-f", str(manifest), "--target", "k8s", "worker", env=k8s_env, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        return run.stdout if "heartbeat 2 real-node" in run.stdout else None
    out = eventually("two heartbeats in portable logs", two_beats, timeout=60)
    assert "heartbeat 1 real-node" in out and pod["metadata"]["name"] in out, out
