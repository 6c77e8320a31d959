"""`security:` as each target's own files say it (`portable render`, no target needed): compose
keys for Docker, the securityContext and host namespaces for Kubernetes, the `docker run`
flags of the VM runtime's user data for aws (libcloud and vSphere run the same script)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from portable.cli.main import cli

APP = """\
apiVersion: portable/v1
kind: Application
metadata: {name: sec-render}
services:
  clock:
    image: registry.example.com/clock:1.0
    user: "10001"
    security:
      capabilities: {add: [SYS_TIME]}
      read_only_root: true
      host_pid: true
      host_ipc: true
  admin:
    image: registry.example.com/admin:1.0
    ports: [{port: 443, protocol: tcp}]
    security: {privileged: true, host_network: true}
  web:
    image: registry.example.com/web:1.0
    ports: [{port: 80}]
targets:
  k8s: {provider: kubernetes, context: lab, namespace: sec}
  aws: {provider: aws, region: eu-west-1, ami: ami-12345678}
"""


@pytest.fixture
def rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "portable.yaml").write_text(APP)
    monkeypatch.chdir(tmp_path)
    for target in ("local", "k8s", "aws"):
        result = CliRunner().invoke(cli, ["render", "-t", target, "-o", f"out/{target}"])
        assert result.exit_code == 0, result.output
    return tmp_path / "out"


def test_docker_compose_keys(rendered: Path) -> None:
    services = yaml.safe_load((rendered / "local" / "docker-compose.yaml").read_text())["services"]
    keys = ("cap_drop", "cap_add", "security_opt", "read_only", "privileged", "pid", "ipc", "network_mode")
    got = {name: {k: v[k] for k in keys if k in v} for name, v in services.items() if name in ("clock-1", "admin-1", "web-1")}
    assert got == {
        "clock-1": {"cap_drop": ["ALL"], "cap_add": ["SYS_TIME"], "security_opt": ["no-new-privileges:true"], "read_only": True, "pid": "host", "ipc": "host"},
        "admin-1": {"privileged": True, "network_mode": "host"},
        "web-1": {"cap_drop": ["ALL"], "cap_add": ["NET_BIND_SERVICE"], "security_opt": ["no-new-privileges:true"]},
    }
    assert "networks" not in services["admin-1"]


def test_kubernetes_security_context(rendered: Path) -> None:
    docs = [d for d in yaml.safe_load_all((rendered / "k8s" / "sec-render.k8s.yaml").read_text()) if d and d["kind"] == "Deployment"]
    pods = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs}
    host = ("hostNetwork", "hostPID", "hostIPC")
    assert pods["clock"]["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"add": ["SYS_TIME"], "drop": ["ALL"]}, "readOnlyRootFilesystem": True}
    assert pods["clock"]["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 10001, "runAsNonRoot": True}
    assert {k: pods["clock"][k] for k in host if k in pods["clock"]} == {"hostPID": True, "hostIPC": True}
    # the apiserver refuses allowPrivilegeEscalation: false beside privileged: true
    assert pods["admin"]["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": True, "privileged": True}
    assert {k: pods["admin"][k] for k in host if k in pods["admin"]} == {"hostNetwork": True}
    assert pods["web"]["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}


def run_flags(user_data: Path) -> list[str]:
    lines = [line.strip().rstrip("\\").strip() for line in user_data.read_text().splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("$DOCKER run -d"))
    end = next(i for i in range(start, len(lines)) if "docker run failed" in lines[i])
    return [line for line in lines[start:end] if line.startswith(("--cap", "--security-opt", "--read-only", "--privileged", "--pid", "--ipc", "--network"))]


def test_vm_runtime_docker_run_flags(rendered: Path) -> None:
    user_data = rendered / "aws" / "user-data"
    assert run_flags(user_data / "clock.yaml") == ["--cap-drop ALL", "--cap-add SYS_TIME", "--security-opt no-new-privileges:true", "--read-only", "--pid host", "--ipc host"]
    assert run_flags(user_data / "admin.yaml") == ["--privileged", "--network host"]
    assert run_flags(user_data / "web.yaml") == ["--cap-drop ALL", "--cap-add NET_BIND_SERVICE", "--security-opt no-new-privileges:true"]
