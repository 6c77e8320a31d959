"""Hardened defaults proven on the lab's engines, and the privileged refusal that comes first.

Docker: `docker inspect` and /proc/1/status of what `portable deploy` created show every
capability dropped (NET_BIND_SERVICE kept only for the service on port 80), no new
privileges, the default seccomp filter and a read-only root where the manifest asks, and
the services are healthy with it. Kubernetes: a namespace labelled
`pod-security.kubernetes.io/enforce: restricted` on the lab's apiserver (the real PodSecurity
admission, which refuses a non-compliant pod in the same namespace) admits the pods of a
deploy with the defaults, on the real kubelet node and on kwok's. A privileged service is
refused by portable (exit 2, check's finding) before the engine or the apiserver hears of it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from portable import api

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=400)


def docker(host: str, *args: str) -> str:
    return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, check=True, timeout=60).stdout


def kubectl(kubeconfig: str, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=check, timeout=120, input=stdin)


def status_field(host: str, container: str, field: str) -> str:
    """A field of the container's PID 1 /proc/1/status (CapEff, NoNewPrivs, Seccomp)."""
    text = docker(host, "exec", container, "cat", "/proc/1/status")
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(field + ":"))


def engine_health(host: str, container: str, within: float = 60.0) -> str:
    """The engine's own verdict on the container's HEALTHCHECK, once it has one.

    portable's deploy goes on as soon as it has run the check itself (health_probe.py), which can
    be before the engine's first run of it (one interval after the start): "starting" until then.
    This asks the engine, so the check passes under the hardening by the engine's own run too."""
    deadline = time.monotonic() + within
    while True:
        status = docker(host, "inspect", "-f", "{{.State.Health.Status}}", container).strip()
        if status != "starting" or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


HARDENED = """\
apiVersion: portable/v1
kind: Application
metadata: {name: APP}
services:
  web:
    image: lab/web:1
    ports: [{port: 8080}]
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 1s, retries: 30}
  edge:
    image: lab/web:1
    args: [/bin/httpd, -f, -p, "80", -h, /www]
    ports: [{port: 80}]
    health: {http: {path: /cgi-bin/health, port: 80}, interval: 1s, retries: 30}
  counter:
    image: lab/worker:1
    env: {INTERVAL: "1"}
    volumes: [data:/data]
    security: {read_only_root: true}
    health: {exec: {command: [sh, -c, "test -s /data/beats"]}, interval: 1s, retries: 30}
volumes:
  data: {size: 64Mi}
"""


@pytest.fixture
def docker_app(docker_host: str, tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    app = f"sec-hard-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(HARDENED.replace("APP", app))
    env = {**os.environ, "DOCKER_HOST": docker_host}
    env.pop("PORTABLE_POLICY", None)
    yield app, manifest, env
    cli("destroy", "-f", str(manifest), "--yes", "--volumes", env=env, cwd=tmp_path)


@pytest.mark.lab("docker", "images")
def test_docker_containers_run_hardened_and_healthy(docker_app: tuple[str, Path, dict[str, str]], docker_host: str, tmp_path: Path) -> None:
    app, manifest, env = docker_app
    run = cli("deploy", "-f", str(manifest), "--yes", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    names = docker(docker_host, "ps", "--filter", f"label=io.portable.app={app}", "--format", "{{.Names}}").split()
    by_service = {}
    for name in names:
        info = json.loads(docker(docker_host, "inspect", name))[0]
        by_service[info["Config"]["Labels"]["io.portable.service"]] = info
    assert set(by_service) == {"web", "edge", "counter"}
    for service, info in by_service.items():
        host = info["HostConfig"]
        assert host["CapDrop"] == ["ALL"], service
        assert host["SecurityOpt"] == ["no-new-privileges:true"], service
        assert host["Privileged"] is False and host["PidMode"] in ("", "private") and host["IpcMode"] in ("private", "shareable", "")
        name = info["Name"].lstrip("/")
        assert engine_health(docker_host, name) == "healthy", service
        assert status_field(docker_host, name, "NoNewPrivs") == "1"
        assert status_field(docker_host, name, "Seccomp") == "2"  # the engine's default filter is on
    assert by_service["edge"]["HostConfig"]["CapAdd"] == ["NET_BIND_SERVICE"]  # it listens on 80
    assert by_service["web"]["HostConfig"]["CapAdd"] in (None, [])
    edge, web = (by_service[s]["Name"].lstrip("/") for s in ("edge", "web"))
    assert status_field(docker_host, edge, "CapEff") == "0000000000000400"  # NET_BIND_SERVICE alone
    assert status_field(docker_host, web, "CapEff") == "0000000000000000"
    counter = by_service["counter"]
    assert counter["HostConfig"]["ReadonlyRootfs"] is True and by_service["web"]["HostConfig"]["ReadonlyRootfs"] is False
    write = subprocess.run(["docker", "-H", docker_host, "exec", counter["Name"].lstrip("/"), "touch", "/probe"], capture_output=True, text=True, timeout=60)
    assert write.returncode != 0 and "Read-only file system" in write.stderr


PRIVILEGED = """\
apiVersion: portable/v1
kind: Application
metadata: {name: APP}
services:
  web:
    image: lab/web:1
    user: "65534"
    ports: [{port: 8080}]
    security:
      privileged: true
"""


@pytest.mark.lab("docker", "images")
def test_docker_privileged_service_is_refused_before_the_engine_sees_it(docker_host: str, tmp_path: Path) -> None:
    app = f"sec-priv-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(PRIVILEGED.replace("APP", app))
    env = {**os.environ, "DOCKER_HOST": docker_host}
    env.pop("PORTABLE_POLICY", None)
    run = cli("deploy", "-f", str(manifest), "--yes", env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert f"{manifest}:10:7: error[privileged] services.web.security.privileged:" in run.stderr
    for kind in ("ps", "network ls", "volume ls"):
        assert docker(docker_host, *kind.split(), "-a" if kind == "ps" else "-q", "--filter", f"label=io.portable.app={app}", *(["--format", "{{.Names}}"] if kind == "ps" else [])).strip() == ""


def restricted_target(kubeconfig: str, namespace: str, **extra: Any) -> dict[str, Any]:
    return {"provider": "kubernetes", "kubeconfig": kubeconfig, "namespace": namespace, "rollout_timeout": "180s", **extra}


RESTRICTED_APP = """\
apiVersion: portable/v1
kind: Application
metadata: {name: APP}
services:
  web:
    image: lab/web:1
    user: "65534:65534"
    ports: [{port: 8080}]
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 1s, retries: 30}
  edge:
    image: lab/web:1
    user: "65534"
    args: [/bin/httpd, -f, -p, "80", -h, /www]
    ports: [{port: 80}]
"""


@pytest.fixture
def restricted_namespace(kubeconfig: str) -> Iterator[str]:
    name = f"sec-restricted-{uuid.uuid4().hex[:6]}"
    kubectl(kubeconfig, "create", "namespace", name)
    kubectl(kubeconfig, "label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest")
    yield name
    kubectl(kubeconfig, "delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)


def pods(kubeconfig: str, namespace: str) -> list[dict[str, Any]]:
    out = kubectl(kubeconfig, "-n", namespace, "get", "pods", "-o", "json").stdout
    return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]


@pytest.mark.lab("k8s", "k8s_node")
def test_restricted_namespace_admits_the_defaults_on_the_real_node_and_kwok(kubeconfig: str, real_node: Any, restricted_namespace: str, tmp_path: Path) -> None:
    # the admission is real: a root pod without the restricted settings is refused in this namespace
    rogue = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rogue", "namespace": restricted_namespace},
             "spec": {"containers": [{"name": "c", "image": "lab/web:1"}]}}
    refused = kubectl(kubeconfig, "create", "--dry-run=server", "-f", "-", check=False, stdin=json.dumps(rogue))
    assert refused.returncode != 0 and 'violates PodSecurity "restricted:latest"' in refused.stderr, refused.stderr
    app = f"sec-rs-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "portable.yaml"
    doc = RESTRICTED_APP.replace("APP", app) + yaml.safe_dump({
        "targets": {"real": restricted_target(kubeconfig, restricted_namespace, **real_node.target_settings)},
        # the port-80 service is admitted on kwok's nodes (containerd gives a non-root process no ambient capability)
        "overrides": {"real": {"services": {"edge": {"replicas": 0}}}},
    })
    manifest.write_text(doc)
    env = {**os.environ}
    env.pop("PORTABLE_POLICY", None)
    result = api.deploy(manifest, "real", state=tmp_path / "state.db", env=env)
    assert result.revision == 1
    [web] = pods(kubeconfig, restricted_namespace)
    assert web["spec"]["nodeName"] == real_node.name
    assert all(c["ready"] for c in web["status"]["containerStatuses"])
    sc = web["spec"]["containers"][0]["securityContext"]
    assert sc == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert web["spec"]["securityContext"] == {"runAsUser": 65534, "runAsGroup": 65534, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    # the same services in the same namespace on kwok's nodes, with the port-80 one
    kwok = tmp_path / "kwok.yaml"
    services = RESTRICTED_APP.replace("APP", app + "-kwok").replace("  web:", "  kweb:").replace("  edge:", "  kedge:")  # names are per namespace
    kwok.write_text(services + yaml.safe_dump({"targets": {"kwok": restricted_target(kubeconfig, restricted_namespace)}}))
    assert api.deploy(kwok, "kwok", state=tmp_path / "state.db", env=env).revision == 1
    admitted = {p["metadata"]["labels"]["app.kubernetes.io/instance"] + "/" + p["metadata"]["labels"]["app.kubernetes.io/name"]: p
                for p in pods(kubeconfig, restricted_namespace)}
    edge = admitted[f"{app}-kwok/kedge"]
    assert edge["spec"]["containers"][0]["securityContext"]["capabilities"] == {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}
    assert f"{app}-kwok/kweb" in admitted and f"{app}/web" in admitted
    events = kubectl(kubeconfig, "-n", restricted_namespace, "get", "events", "-o", "json").stdout
    assert "violates PodSecurity" not in events


@pytest.mark.lab("k8s")
def test_privileged_service_is_refused_before_the_apiserver_sees_it(kubeconfig: str, tmp_path: Path) -> None:
    namespace = f"sec-priv-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(PRIVILEGED.replace("APP", namespace) + yaml.safe_dump({"targets": {"k8s": restricted_target(kubeconfig, namespace)}}))
    env = {**os.environ}
    env.pop("PORTABLE_POLICY", None)
    run = cli("deploy", "-f", str(manifest), "-t", "k8s", "--yes", env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "refused by `portable check` (1 error finding)" in run.stderr
    assert f"{manifest}:10:7: error[privileged] services.web.security.privileged:" in run.stderr
    # portable creates the target's namespace on its first apply: it does not exist, so nothing was sent
    missing = kubectl(kubeconfig, "get", "namespace", namespace, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


MOVING = """\
apiVersion: portable/v1
kind: Application
metadata: {name: APP}
services:
  web:
    image: lab/web:1
    ports: [{port: 8080}]
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 1s, retries: 30}
targets:
  a: {provider: docker, host: "HOST_A"}
  b: {provider: docker, host: "HOST_B"}
overrides:
  b:
    services:
      web: {security: {privileged: true}}
"""


@pytest.mark.lab("docker", "docker_b", "images")
def test_migrate_refuses_a_destination_with_an_error_finding_before_moving_anything(docker_host: str, docker_b_host: str, tmp_path: Path) -> None:
    app = f"sec-mig-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MOVING.replace("APP", app).replace("HOST_A", docker_host).replace("HOST_B", docker_b_host))
    env = {**os.environ}
    env.pop("PORTABLE_POLICY", None)
    try:
        deployed = cli("deploy", "-f", str(manifest), "-t", "a", "--yes", env=env, cwd=tmp_path)
        assert deployed.returncode == 0, deployed.stderr
        moved = cli("migrate", "-f", str(manifest), "--from", "a", "--to", "b", "--yes", env=env, cwd=tmp_path)
        assert moved.returncode == 2, moved.stderr + moved.stdout
        assert f"{manifest}:15:24: error[privileged] overrides.b.services.web.security.privileged:" in moved.stderr
        label = f"label=io.portable.app={app}"
        assert docker(docker_b_host, "ps", "-aq", "--filter", label).split() == []
        assert docker(docker_b_host, "network", "ls", "-q", "--filter", label).split() == []
        assert len(docker(docker_host, "ps", "-q", "--filter", label).split()) == 1  # the source still serves
    finally:
        cli("destroy", "-f", str(manifest), "-t", "a", "--yes", env=env, cwd=tmp_path)
