"""Smoke test of the lab's real Kubernetes node (component k8s_node, tests/lab/node.sh).

Pods placed there really run (kubelet + containerd + runc, Debian's CNI plugins, kube-proxy in
iptables mode), unlike on kwok's nodes: a readiness probe is really answered, `kubectl logs`,
`exec` and `cp` reach a real container, a ClusterIP routes to it, and a claim's data outlives
its pod. Under CI=true a missing component fails these tests (tests/conftest.py).
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.lab("k8s", "k8s_node", "registry"), pytest.mark.timeout(600)]

POD_NETWORK = ipaddress.ip_network("10.245.0.0/24")   # the node's bridge labk0 (node.sh)
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def run(*argv: str, timeout: float = 120, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def wait_until(what: str, fn: Callable[[], Any], timeout: float = 90, interval: float = 0.5) -> Any:
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timeout ({timeout}s) waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def kubectl(kubeconfig: str) -> Kubectl:
    return lambda *a, **kw: run("kubectl", "--kubeconfig", kubeconfig, *a, **kw)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"node-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)


def placed(real_node: Any, pod_spec: dict[str, Any]) -> dict[str, Any]:
    """`pod_spec` with the node selector and toleration of the real node."""
    settings = real_node.target_settings
    return {**pod_spec, "nodeSelector": settings["node_selector"], "tolerations": settings["tolerations"]}


def web_deployment(real_node: Any, name: str, registry: str, claim: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "web", "image": f"{registry}/lab/web:1",
        # httpd -vv logs every request on stderr: the readiness probes show up in `kubectl logs`
        "command": ["sh", "-c", "echo web starting on $(hostname); exec httpd -f -vv -p 8080 -h /www"],
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/cgi-bin/health", "port": 8080}, "periodSeconds": 1, "failureThreshold": 2},
    }
    pod: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 1}
    if claim:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        pod["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": placed(real_node, pod)}},
    }


def apply(kubectl: Kubectl, namespace: str, *objects: dict[str, Any]) -> None:
    kubectl("-n", namespace, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def ready_pod(kubectl: Kubectl, namespace: str, app: str) -> dict[str, Any]:
    """The one Ready, not terminating pod of `app` (waits for the rollout first)."""
    kubectl("-n", namespace, "rollout", "status", f"deployment/{app}", "--timeout=180s", timeout=200)

    def one() -> dict[str, Any] | None:
        pods = json.loads(kubectl("-n", namespace, "get", "pods", "-l", f"app={app}", "-o", "json").stdout)["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")
                and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
        return live[0] if len(live) == 1 and len(pods) == 1 else None

    pod: dict[str, Any] = wait_until(f"one Ready pod of {app}", one, timeout=120)
    return pod


def test_node_is_real_labelled_tainted_and_kwok_nodes_remain(kubectl: Kubectl, real_node: Any) -> None:
    nodes = {n["metadata"]["name"]: n for n in json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]}
    node = nodes[real_node.name]
    key, value = real_node.label.split("=", 1)
    assert node["metadata"]["labels"][key] == value
    assert {"key": key, "value": value, "effect": "NoSchedule"} in [
        {k: t.get(k) for k in ("key", "value", "effect")} for t in node["spec"].get("taints", [])]
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.36."), info
    assert info["containerRuntimeVersion"].startswith("containerd://2."), info
    assert "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})
    fake = [n for n, o in nodes.items() if o["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node") == "fake"]
    assert len(fake) >= 2, f"kwok's nodes are gone: {sorted(nodes)}"


def test_deployment_with_http_readiness_becomes_ready_and_logs_exec_cp_work(
        kubectl: Kubectl, namespace: str, real_node: Any, registry: str, tmp_path: Path) -> None:
    apply(kubectl, namespace, web_deployment(real_node, "web", registry))
    pod = ready_pod(kubectl, namespace, "web")
    name = pod["metadata"]["name"]
    assert pod["spec"]["nodeName"] == real_node.name
    real_node_ip = pod["status"]["hostIP"]
    assert ipaddress.ip_address(pod["status"]["podIP"]) in POD_NETWORK, pod["status"]
    # the kubelet really probed the container: it answers on its pod IP from this host too
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8080/cgi-bin/health", timeout=5) as r:
        assert r.read().decode().strip() == "ok"

    logs = wait_until("the probes in the container's log", lambda: (
        out if "url:/cgi-bin/health" in (out := kubectl("-n", namespace, "logs", name).stdout) else None), timeout=30)
    assert f"web starting on {name}" in logs
    assert f"[::ffff:{real_node_ip}]" in logs, logs   # the probes came from the kubelet, on the node's address

    exec_out = kubectl("-n", namespace, "exec", name, "--", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname").stdout
    assert "httpd -f -vv -p 8080" in exec_out and name in exec_out

    local = tmp_path / "hello.txt"
    local.write_text("copied in by kubectl cp\n")
    kubectl("-n", namespace, "cp", str(local), f"{name}:/www/hello.txt")
    assert kubectl("-n", namespace, "exec", name, "--", "cat", "/www/hello.txt").stdout == "copied in by kubectl cp\n"
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8080/hello.txt", timeout=5) as r:
        assert r.read().decode() == "copied in by kubectl cp\n"   # the running httpd serves what was copied in
    back = tmp_path / "index.html"
    kubectl("-n", namespace, "cp", f"{name}:/www/index.html", str(back))
    assert back.read_text() == "hello\n"


def test_cluster_ip_service_answers_from_the_node(kubectl: Kubectl, namespace: str, real_node: Any, registry: str) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"type": "ClusterIP", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    apply(kubectl, namespace, web_deployment(real_node, "web", registry), service)
    pod = ready_pod(kubectl, namespace, "web")
    ip = kubectl("-n", namespace, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/16")

    def answer() -> str | None:   # from this host, through kube-proxy's DNAT to the pod
        try:
            with urllib.request.urlopen(f"http://{ip}/cgi-bin/count", timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None   # kube-proxy has not synced the new Service yet
    assert (wait_until(f"ClusterIP {ip}:80", answer, timeout=60) or "").startswith("count=")
    rules = run("iptables", "-t", "nat", "-S", "KUBE-SERVICES").stdout
    assert f"-d {ip}/32" in rules, "no kube-proxy rule for the ClusterIP"
    # and from a pod: the pod itself through its Service (hairpin on the node's bridge). nc, not
    # wget: the static busybox's wget crashes (exit 139) on this URL inside the image
    request = f"printf 'GET /cgi-bin/health HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {ip} 80"
    out = kubectl("-n", namespace, "exec", pod["metadata"]["name"], "--", "sh", "-c", request).stdout
    assert out.startswith("HTTP/1.1 200") and out.rstrip().endswith("ok"), out


def test_claim_bound_on_the_node_keeps_a_file_across_a_pod_restart(
        kubectl: Kubectl, namespace: str, real_node: Any, registry: str) -> None:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}}}
    apply(kubectl, namespace, claim, web_deployment(real_node, "web", registry, claim="data"))
    first = ready_pod(kubectl, namespace, "web")
    assert first["spec"]["nodeName"] == real_node.name
    pvc = json.loads(kubectl("-n", namespace, "get", "pvc", "data", "-o", "json").stdout)
    assert pvc["status"]["phase"] == "Bound"
    path = kubectl("get", "pv", pvc["spec"]["volumeName"], "-o", "jsonpath={.spec.hostPath.path}").stdout
    token = uuid.uuid4().hex
    kubectl("-n", namespace, "exec", first["metadata"]["name"], "--", "sh", "-c", f"echo {token} > /data/kept.txt")
    assert (Path(path) / "kept.txt").read_text().strip() == token   # the kubelet bind-mounted the PV's directory

    kubectl("-n", namespace, "delete", "pod", first["metadata"]["name"], "--wait=true", timeout=120)
    second = wait_until("a new Ready pod", lambda: (
        p if (p := ready_pod(kubectl, namespace, "web"))["metadata"]["uid"] != first["metadata"]["uid"] else None), timeout=120)
    assert second["spec"]["nodeName"] == real_node.name
    kept = kubectl("-n", namespace, "exec", second["metadata"]["name"], "--", "cat", "/data/kept.txt").stdout
    assert kept.strip() == token


def test_pod_without_the_toleration_never_lands_on_the_real_node(kubectl: Kubectl, namespace: str, real_node: Any, registry: str) -> None:
    key, value = real_node.label.split("=", 1)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "untolerated"},
           "spec": {"nodeSelector": {key: value}, "containers": [{"name": "c", "image": f"{registry}/lab/busybox:1"}]}}
    apply(kubectl, namespace, pod)

    def refused() -> str | None:
        events = kubectl("-n", namespace, "get", "events", "--field-selector", "involvedObject.name=untolerated", "-o", "json").stdout
        msgs = [e.get("message", "") for e in json.loads(events)["items"] if e.get("reason") == "FailedScheduling"]
        return next((m for m in msgs if "untolerated taint" in m), None)
    assert wait_until("the scheduler's refusal", refused, timeout=60)
    assert not kubectl("-n", namespace, "get", "pod", "untolerated", "-o", "jsonpath={.spec.nodeName}").stdout
