"""A docker target whose `host:` names a second, real engine; images pulled from a registry.

The lab's engine B has none of the app's images under the registry's names, so the deploy
must pull them (the `pull` path), create everything on B and nothing on engine A. The
target also turns the front proxy off (`proxy: false`): the port is published directly,
which also exercises that setting.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from docker_support import Cli, force_remove_app, free_port, wait_for

pytestmark = [pytest.mark.lab("docker", "docker_b", "registry"), pytest.mark.timeout(600)]

APP = "dkt-far"


def _on(host: str, *args: str) -> str:
    return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True).stdout


def test_deploy_to_the_engine_named_by_host(tmp_path: Path, docker_b_host: str, registry: str) -> None:
    port = free_port()
    web = f"{registry}/lab/web:1"
    _on(docker_b_host, "rmi", web)
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  web:
    image: {web}
    stop_grace_period: 1s
    ports: [{{port: 8080, expose: public, published: {port}}}]
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s}}
targets:
  far:
    provider: docker
    host: {docker_b_host}
    # the port is published straight from the container: in the lab, engine B runs with
    # --iptables=false while engine A turns on bridge netfilter with a FORWARD policy of DROP,
    # so container-to-container traffic on B's networks (proxy -> replica) is dropped
    proxy: false
""")
    cli = Cli(tmp_path / "state.db")
    try:
        result = cli.run("deploy", "-f", str(manifest), "--target", "far", "--yes")
        assert result.returncode == 0, result.stderr + result.stdout
        assert f"pulling {web}" in result.stderr
        assert wait_for(f"http://127.0.0.1:{port}/cgi-bin/health").strip() == "ok"
        on_b = _on(docker_b_host, "ps", "--filter", f"label=io.portable.app={APP}", "--format", "{{.Names}}").split()
        assert on_b == [f"{APP}-web-1"]
        on_a = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.portable.app={APP}"], capture_output=True, text=True).stdout
        assert on_a.strip() == ""
        targets = cli.run("targets", "-f", str(manifest))
        assert "Docker Engine" in targets.stdout and docker_b_host in targets.stdout
        result = cli.run("destroy", "-f", str(manifest), "--target", "far", "--yes")
        assert result.returncode == 0, result.stderr
        assert _on(docker_b_host, "ps", "-aq", "--filter", f"label=io.portable.app={APP}").strip() == ""
        assert _on(docker_b_host, "network", "ls", "-q", "--filter", f"label=io.portable.app={APP}").strip() == ""
    finally:
        ids = _on(docker_b_host, "ps", "-aq", "--filter", f"label=io.portable.app={APP}").split()
        if ids:
            _on(docker_b_host, "rm", "-f", *ids)
        _on(docker_b_host, "network", "rm", APP)
        force_remove_app(APP)
