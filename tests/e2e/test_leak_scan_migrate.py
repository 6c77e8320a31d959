"""The leak scanner on a migration: an app with a secret moves from Docker engine A to engine
B; the secret reaches B's container, and no trace of it is in the CLI's output, the state,
the migration journal or anything else under the app's directory, nor in either engine's
view of the containers."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.lab("docker", "docker_b", "images"), pytest.mark.timeout(600)]

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: leakmove}
services:
  web:
    image: lab/web:1
    ports: [{port: 8080}]
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 1s}
    secrets: [token]
secrets: {token: {from: "env:LEAK_API_TOKEN"}}
targets:
  a: {provider: docker, host: "${HOST_A}"}
  b: {provider: docker, host: "${HOST_B}"}
"""


def test_a_migration_carries_the_secret_only_to_the_container(tmp_path: Path, leak_secrets: Any, docker_host: str, docker_b_host: str) -> None:
    (tmp_path / "portable.yaml").write_text(MANIFEST)
    env = {**os.environ, **leak_secrets.env, "HOST_A": docker_host, "HOST_B": docker_b_host}
    leak_secrets.watch(tmp_path)  # the state, .portable/migrations (the journal), archives

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return leak_secrets.run(["portable", *args, "-f", str(tmp_path / "portable.yaml"), "--state", str(tmp_path / "state.db")], env=env, timeout=420)

    def engines() -> list[Any]:
        out = []
        for host in (docker_host, docker_b_host):
            ids = subprocess.run(["docker", "-H", host, "ps", "-aq", "--filter", "label=io.portable.app=leakmove"], capture_output=True, text=True, timeout=60).stdout.split()
            if ids:
                shown = json.loads(subprocess.run(["docker", "-H", host, "inspect", *ids], capture_output=True, text=True, timeout=60).stdout)
                out += [{"Config": c["Config"], "HostConfig": c["HostConfig"], "Name": c["Name"]} for c in shown]
        return out

    leak_secrets.probe("docker inspect on engines A and B", engines)
    try:
        deployed = cli("deploy", "-t", "a", "--yes")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        moved = cli("migrate", "--from", "a", "--to", "b", "--yes")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert (tmp_path / ".portable" / "migrations").exists()  # the journal is among what was scanned
        [container] = [c for c in engines() if c["Name"]]
        name = container["Name"].lstrip("/")
        got = subprocess.run(["docker", "-H", docker_b_host, "exec", name, "cat", "/run/secrets/token"], capture_output=True, text=True, timeout=60)
        assert got.stdout == leak_secrets.value("LEAK_API_TOKEN"), got.stderr
        assert leak_secrets.scan() == []
    finally:
        for target in ("a", "b"):
            cli("destroy", "-t", target, "--yes", "--volumes")
