"""`migrate` moves the bytes the source runs, not what a tag names now (issue 20, item 1-2).

The source (the lab's first Docker engine) deploys an image named by tag through a target
with a registry prefix, so it runs `host/repo@sha256:...`. The tag is then moved in the
registry to other content. `migrate --dry-run` to the second engine, whose target pushes to
another prefix, must show the digest the source runs; the migration must run that digest on
the destination (copied into the destination's prefix, byte for byte: the file the first
build wrote is there), and `history` on the destination must name it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker_support import ensure_images

pytestmark = [pytest.mark.lab("docker", "docker_b", "registry"), pytest.mark.timeout(300)]


def cli(manifest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORTABLE_PROXY_IMAGE": "lab/kamal-proxy:1"}
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(manifest), "--state", str(manifest.parent / "state.db")],
                          capture_output=True, text=True, env=env, timeout=240)


def docker(host: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    where = ["-H", host] if host else []
    return subprocess.run(["docker", *where, *args], capture_output=True, text=True, check=check, timeout=120)


def push_tag(tmp: Path, tag: str, marker: str) -> None:
    """Builds lab/web:1 plus a file holding `marker`, pushes it as `tag` (moving it if it exists)."""
    ctx = tmp / f"ctx-{marker}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM lab/web:1\nRUN echo {marker} > /www/run.txt\n")
    docker(None, "build", "-q", "-t", tag, str(ctx))
    docker(None, "push", tag)


def manifest_doc(app: str, image: str, targets: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app},
            "services": {"web": {"image": image, "ports": [{"port": 8080}],
                                 "health": {"http": {"path": "/cgi-bin/health", "port": 8080}, "interval": "1s", "retries": 5}}},
            "targets": targets}


def test_migrate_runs_on_the_destination_the_digest_the_source_runs_though_the_tag_moved(tmp_path: Path, registry: str, docker_b_host: str) -> None:
    ensure_images()
    run = uuid.uuid4().hex[:6]
    app = f"migpin-{run}"
    tag = f"{registry}/migpin-{run}/web:live"
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(yaml.safe_dump(manifest_doc(app, tag, {
        "a": {"provider": "docker", "registry": f"{registry}/migpin-{run}-a"},
        "b": {"provider": "docker", "host": docker_b_host, "registry": f"{registry}/migpin-{run}-b"},
    }), sort_keys=False))
    try:
        push_tag(tmp_path, tag, f"first-{run}")
        deployed = cli(manifest, "deploy", "-t", "a", "--yes", "--quiet")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        on_a = json.loads(docker(None, "inspect", f"{app}-web-1").stdout)[0]["Config"]["Image"]
        assert on_a.startswith(f"{registry}/migpin-{run}/web@sha256:"), on_a
        digest = on_a.split("@")[1]

        push_tag(tmp_path, tag, f"second-{run}")  # the tag now names other bytes
        want = f"{registry}/migpin-{run}-b/{app}-web@{digest}"

        dry = cli(manifest, "migrate", "--from", "a", "--to", "b", "--dry-run")
        assert dry.returncode == 0, dry.stderr + dry.stdout
        assert f"web: {on_a} -> {want}" in dry.stdout, dry.stdout

        moved = cli(manifest, "migrate", "--from", "a", "--to", "b", "--yes")
        assert moved.returncode == 0, moved.stderr + moved.stdout
        on_b = json.loads(docker(docker_b_host, "inspect", f"{app}-web-1").stdout)[0]["Config"]["Image"]
        assert on_b == want, f"the destination runs {on_b}, the source ran {on_a}"
        assert docker(docker_b_host, "exec", f"{app}-web-1", "cat", "/www/run.txt").stdout.strip() == f"first-{run}"
        history = json.loads(cli(manifest, "history", "-t", "b", "-o", "json").stdout)
        assert history[-1]["kind"] == "migrate" and history[-1]["status"] == "deployed", history
        assert "migrated from a revision 1" in history[-1]["message"] and want in history[-1]["message"], history[-1]
    finally:
        cli(manifest, "destroy", "-t", "b", "--yes", "--quiet")
        cli(manifest, "destroy", "-t", "a", "--yes", "--quiet")
        docker(None, "rmi", tag, check=False)
