"""`portable migrate -o json` (and `--dry-run -o json`) between the lab's two Docker engines:
the outputs match docs/schemas/migrate.schema.json and plan.schema.json, the volume's data
arrives, and no archive URL is printed.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from docker_support import Cli, ensure_images
from json_schemas import validate

pytestmark = [pytest.mark.lab("docker", "docker_b"), pytest.mark.timeout(600)]

APP = "verbs-move"
MANIFEST = f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  kv:
    image: lab/web:1
    ports: [{{port: 8080, protocol: http}}]
    volumes: [{{volume: data, path: /data}}]
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s, timeout: 2s, retries: 10}}
volumes:
  data: {{}}
targets:
  a: {{provider: docker, host: "${{HOST_A}}"}}
  b: {{provider: docker, host: "${{HOST_B}}"}}
"""


def _cleanup(host: str) -> None:
    label = f"label=io.portable.app={APP}"
    ids = subprocess.run(["docker", "-H", host, "ps", "-aq", "--filter", label], capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "-H", host, "rm", "-f", *ids], capture_output=True)
    for kind in ("network", "volume"):
        names = subprocess.run(["docker", "-H", host, kind, "ls", "-q", "--filter", label], capture_output=True, text=True).stdout.split()
        if names:
            subprocess.run(["docker", "-H", host, kind, "rm", *names], capture_output=True)


def test_migrate_speaks_json(tmp_path: Path, docker_host: str, docker_b_host: str) -> None:
    ensure_images()
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    cli = Cli(tmp_path / "state.db", {"HOST_A": docker_host, "HOST_B": docker_b_host})
    for host in (docker_host, docker_b_host):
        _cleanup(host)
    try:
        assert cli.run("deploy", "-f", str(manifest), "-t", "a", "--yes", "--quiet").returncode == 0
        wrote = cli.run("exec", "kv", "-f", str(manifest), "-t", "a", "--", "sh", "-c", "echo moved > /data/f")
        assert wrote.returncode == 0, wrote.stderr
        common = ["-f", str(manifest), "--state", str(cli.state), "--from", "a", "--to", "b", "--blob-store", str(tmp_path / "blobs"), "-o", "json"]
        dry = cli.run("migrate", *common, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        preview = json.loads(dry.stdout)
        validate("plan", preview["plan"])
        assert preview["volumes"] == ["data"] and preview["plan"]["summary"]["create"] >= 3
        moved = cli.run("migrate", *common, "--yes")
        assert moved.returncode == 0, moved.stderr
        doc = validate("migrate", json.loads(moved.stdout))
        assert (doc["from"], doc["to"], doc["retired"]) == ("a", "b", True)
        assert [a["volume"] for a in doc["archives"]] == ["data"] and "url" not in moved.stdout
        read = cli.run("exec", "kv", "-f", str(manifest), "-t", "b", "--", "cat", "/data/f")
        assert read.stdout == "moved\n", read.stdout + read.stderr
    finally:
        for host in (docker_host, docker_b_host):
            _cleanup(host)
