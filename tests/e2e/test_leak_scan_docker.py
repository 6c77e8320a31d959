"""The leak scanner on the Docker target: a deployed secret reaches its container (as a
root-only file) and nowhere else: not the CLI's output, the state, a saved plan, the
rendered files, or the container's labels, environment and configuration the engine shows."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab("docker", "images")

MANIFEST = """
apiVersion: portable/v1
kind: Application
metadata: {name: leakdock}
services:
  web:
    image: lab/web:1
    ports: [{port: 8080}]
    health: {http: {path: /cgi-bin/health, port: 8080}}
    secrets: [token]
secrets: {token: {from: "env:LEAK_API_TOKEN"}}
"""


def test_a_docker_secret_reaches_only_its_container(tmp_path: Path, leak_secrets: Any, docker_host: str) -> None:
    (tmp_path / "portable.yaml").write_text(MANIFEST)
    env = {**__import__("os").environ, **leak_secrets.env, "DOCKER_HOST": docker_host}
    state = tmp_path / "state.db"
    leak_secrets.watch(state, tmp_path / "plan.json", tmp_path / "rendered")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return leak_secrets.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(tmp_path / "portable.yaml")], env=env, timeout=300)

    def inspect() -> list[Any]:
        ids = subprocess.run(["docker", "-H", docker_host, "ps", "-aq", "--filter", "label=io.portable.app=leakdock"], capture_output=True, text=True, timeout=60).stdout.split()
        if not ids:
            return []
        shown = json.loads(subprocess.run(["docker", "-H", docker_host, "inspect", *ids], capture_output=True, text=True, timeout=60).stdout)
        return [{"Config": c["Config"], "HostConfig": c["HostConfig"], "Name": c["Name"], "Mounts": c["Mounts"]} for c in shown]

    leak_secrets.probe("docker inspect of the app's containers", inspect)
    try:
        assert cli("render", "-o", str(tmp_path / "rendered")).returncode == 0
        planned = cli("plan", "--state", str(state), "--out", str(tmp_path / "plan.json"))
        assert planned.returncode == 0, planned.stderr
        done = cli("deploy", "--state", str(state), "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        [container] = inspect()
        got = subprocess.run(["docker", "-H", docker_host, "exec", container["Name"].lstrip("/"), "cat", "/run/secrets/token"], capture_output=True, text=True, timeout=60)
        assert got.stdout == leak_secrets.value("LEAK_API_TOKEN")
        assert leak_secrets.scan() == []
    finally:
        cli("destroy", "--state", str(state), "--yes", "--volumes")
