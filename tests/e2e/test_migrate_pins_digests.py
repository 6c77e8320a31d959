"""`migrate` moves the bytes the source runs, not what a tag or a build context names now
(issue 20, items 1-2).

The source (the lab's first Docker engine) deploys, through a target with a registry prefix,
one service named by tag and one `build:` service, so both run `host/repo@sha256:...`. Then
the tag is moved in the registry to other content and the build context is edited. A
migration to a target whose registry cannot be reached is refused (exit 2, one sentence,
nothing created). `migrate --dry-run` to the second engine, whose target pushes to another
prefix, shows the digests the source runs; the migration runs those digests there (copied into
the destination's prefix, byte for byte: the files the first builds wrote are there), and
`history` on the destination names them, also when the migration was killed after its plan
step and resumed.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker_support import ensure_images

pytestmark = [pytest.mark.lab("docker", "docker_b", "registry"), pytest.mark.timeout(300)]


def cli(manifest: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORTABLE_PROXY_IMAGE": "lab/kamal-proxy:1", **({"PORTABLE_CRASHPOINT": crash_at} if crash_at else {})}
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
    health = {"http": {"path": "/cgi-bin/health", "port": 8080}, "interval": "1s", "retries": 5}
    return {"apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app},
            "services": {"web": {"image": image, "ports": [{"port": 8080}], "health": health},
                         "api": {"build": "./site", "ports": [{"port": 8080}], "health": health}},
            "targets": targets}


def image_of(host: str | None, container: str) -> str:
    return str(json.loads(docker(host, "inspect", container).stdout)[0]["Config"]["Image"])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed once the block ends: nothing listens there


def test_migrate_runs_on_the_destination_the_digest_the_source_runs_though_the_tag_moved(tmp_path: Path, registry: str, docker_b_host: str) -> None:
    ensure_images()
    run = uuid.uuid4().hex[:6]
    app = f"migpin-{run}"
    tag = f"{registry}/migpin-{run}/web:live"
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(yaml.safe_dump(manifest_doc(app, tag, {
        "a": {"provider": "docker", "registry": f"{registry}/migpin-{run}-a"},
        "b": {"provider": "docker", "host": docker_b_host, "registry": f"{registry}/migpin-{run}-b"},
        "c": {"provider": "docker", "host": docker_b_host, "registry": f"127.0.0.1:{closed_port()}/migpin-{run}-c"},
    }), sort_keys=False))
    site = tmp_path / "site"
    site.mkdir()
    (site / "Dockerfile").write_text(f"FROM lab/web:1\nRUN echo built-first-{run} > /www/run.txt\n")
    try:
        push_tag(tmp_path, tag, f"first-{run}")
        deployed = cli(manifest, "deploy", "-t", "a", "--yes", "--quiet")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        on_a = {svc: image_of(None, f"{app}-{svc}-1") for svc in ("web", "api")}
        assert on_a["web"].startswith(f"{registry}/migpin-{run}/web@sha256:"), on_a
        assert on_a["api"].startswith(f"{registry}/migpin-{run}-a/{app}-api@sha256:"), on_a

        push_tag(tmp_path, tag, f"second-{run}")  # the tag now names other bytes
        (site / "Dockerfile").write_text(f"FROM lab/web:1\nRUN echo built-second-{run} > /www/run.txt\n")  # and so would a build
        want = {svc: f"{registry}/migpin-{run}-b/{app}-{svc}@{ref.split('@')[1]}" for svc, ref in on_a.items()}

        refused = cli(manifest, "migrate", "--from", "a", "--to", "c", "--yes")
        assert refused.returncode == 2, refused.stderr + refused.stdout
        assert "copying the image of service api to 127.0.0.1:" in refused.stderr and "cannot be reached" in refused.stderr, refused.stderr
        assert "hint: check targets.c.registry.server" in refused.stderr, refused.stderr
        assert docker(docker_b_host, "ps", "-aq", "--filter", f"label=io.portable.app={app}").stdout.strip() == "", "nothing was created"

        dry = cli(manifest, "migrate", "--from", "a", "--to", "b", "--dry-run")
        assert dry.returncode == 0, dry.stderr + dry.stdout
        for svc in ("web", "api"):
            assert f"{svc}: {on_a[svc]} -> {want[svc]}" in dry.stdout, dry.stdout

        killed = cli(manifest, "migrate", "--from", "a", "--to", "b", "--yes", crash_at="migrate.after-plan")
        assert killed.returncode == -9, killed.stderr + killed.stdout  # SIGKILLed once the plan step (and its copies) is in the journal
        moved = cli(manifest, "migrate", "--from", "a", "--to", "b", "--yes")  # resumed: the pins come from the journal
        assert moved.returncode == 0, moved.stderr + moved.stdout
        assert "[plan] already done (resuming)" in moved.stdout + moved.stderr, moved.stdout + moved.stderr
        on_b = {svc: image_of(docker_b_host, f"{app}-{svc}-1") for svc in ("web", "api")}
        assert on_b == want, f"the destination runs {on_b}, the source ran {on_a}"
        assert docker(docker_b_host, "exec", f"{app}-web-1", "cat", "/www/run.txt").stdout.strip() == f"first-{run}"
        assert docker(docker_b_host, "exec", f"{app}-api-1", "cat", "/www/run.txt").stdout.strip() == f"built-first-{run}"
        history = json.loads(cli(manifest, "history", "-t", "b", "-o", "json").stdout)
        assert history[-1]["kind"] == "migrate" and history[-1]["status"] == "deployed", history
        message = history[-1]["message"]
        assert message.startswith("migrated from a revision 1, images pinned: ") and all(ref in message for ref in want.values()), message
    finally:
        cli(manifest, "destroy", "-t", "b", "--yes", "--quiet")
        cli(manifest, "destroy", "-t", "a", "--yes", "--quiet")
        docker(None, "rmi", tag, check=False)
