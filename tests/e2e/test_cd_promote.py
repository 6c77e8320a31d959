"""Promotion and pinned tags on the lab (issue 20 items 1-2), through the CLI.

`promote` moves the digest running on one Docker engine to another whose target pushes to a
different registry prefix (the image is copied through the registry API, byte for byte), and
refuses while the source is unhealthy. A tag moved after `plan --out` makes `deploy plan.json`
refuse; a registry that cannot be reached is exit 2 at the target's `registry` field.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.lab("docker", "docker_b", "registry"), pytest.mark.timeout(600)]


def cli(manifest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORTABLE_PROXY_IMAGE": "lab/kamal-proxy:1"}
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(manifest), "--state", str(manifest.parent / "state.db")],
                          capture_output=True, text=True, env=env, timeout=400)


def docker(host: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    where = ["-H", host] if host else []
    return subprocess.run(["docker", *where, *args], capture_output=True, text=True, check=check, timeout=120)


def write(tmp: Path, app: str, service: dict[str, Any], targets: dict[str, Any]) -> Path:
    doc = {"apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app},
           "services": {"web": {**service, "ports": [{"port": 8080}], "health": {"http": {"path": "/cgi-bin/health", "port": 8080}, "interval": "1s", "retries": 3}}},
           "targets": targets}
    path = tmp / "portable.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def manifest_digest(registry: str, repository: str, reference: str) -> str | None:
    req = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{reference}", method="HEAD",
                                 headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return str(resp.headers["Docker-Content-Digest"])
    except urllib.error.HTTPError:
        return None


def test_promote_deploys_the_running_digest_elsewhere_copied_between_prefixes_and_refuses_an_unhealthy_source(
        tmp_path: Path, registry: str, docker_b_host: str) -> None:
    run = uuid.uuid4().hex[:6]
    app = f"cd-{run}"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "Dockerfile").write_text(f"FROM lab/web:1\nRUN echo {run} > /www/run.txt\n")
    manifest = write(tmp_path, app, {"build": "./site"}, {
        "staging": {"provider": "docker", "registry": f"{registry}/cd-{run}-staging"},
        "prod": {"provider": "docker", "host": docker_b_host, "registry": f"{registry}/cd-{run}-prod"},
    })
    try:
        first = cli(manifest, "deploy", "-t", "staging", "--yes")
        assert first.returncode == 0, first.stderr + first.stdout
        ref = json.loads(docker(None, "inspect", f"{app}-web-1").stdout)[0]["Config"]["Image"]
        assert ref.startswith(f"{registry}/cd-{run}-staging/{app}-web@sha256:"), ref
        digest = ref.split("@")[1]

        docker(None, "stop", "-t", "1", f"{app}-web-1")
        refused = cli(manifest, "promote", "--from", "staging", "--to", "prod", "--yes")
        assert refused.returncode == 2, refused.stderr + refused.stdout
        assert "target staging is not healthy, nothing was promoted: web (0/1 healthy)" in refused.stderr, refused.stderr
        assert docker(docker_b_host, "ps", "-aq", "--filter", f"name={app}-").stdout.strip() == ""
        assert manifest_digest(registry, f"cd-{run}-prod/{app}-web", digest) is None, "nothing was copied"

        docker(None, "start", f"{app}-web-1")
        end = time.monotonic() + 60
        while json.loads(cli(manifest, "status", "-t", "staging", "-o", "json").stdout)["services"][0]["healthy"] < 1:
            assert time.monotonic() < end, "staging did not become healthy again"
            time.sleep(1)

        promoted = cli(manifest, "promote", "--from", "staging", "--to", "prod", "--yes", "-o", "json")
        assert promoted.returncode == 0, promoted.stderr + promoted.stdout
        out = json.loads(promoted.stdout)
        want = f"{registry}/cd-{run}-prod/{app}-web@{digest}"
        assert out["images"] == {"web": want} and out["from"] == "staging" and out["revision_from"] == 1
        assert manifest_digest(registry, f"cd-{run}-prod/{app}-web", digest) == digest, "the same bytes under the prod prefix"
        on_b = json.loads(docker(docker_b_host, "inspect", f"{app}-web-1").stdout)[0]
        assert on_b["Config"]["Image"] == want
        assert docker(docker_b_host, "exec", f"{app}-web-1", "cat", "/www/run.txt").stdout.strip() == run
        history = json.loads(cli(manifest, "history", "-t", "prod", "-o", "json").stdout)
        assert history[-1]["status"] == "deployed" and history[-1]["message"] == "promoted from staging revision 1", history
    finally:
        cli(manifest, "destroy", "-t", "prod", "--yes", "--quiet")
        cli(manifest, "destroy", "-t", "staging", "--yes", "--quiet")


def test_a_tag_moved_after_plan_out_makes_deploy_of_the_saved_plan_refuse(tmp_path: Path, registry: str) -> None:
    run = uuid.uuid4().hex[:6]
    app = f"cd-{run}"
    tag = f"{registry}/cd-{run}/web:live"
    docker(None, "tag", "lab/web:1", tag)
    docker(None, "push", tag)
    first = manifest_digest(registry, f"cd-{run}/web", "live")
    manifest = write(tmp_path, app, {"image": tag}, {"d": {"provider": "docker", "registry": f"{registry}/cd-{run}"}})
    try:
        planned = cli(manifest, "plan", "-t", "d", "--out", str(tmp_path / "plan.json"))
        assert planned.returncode == 0, planned.stderr
        assert f"web: {tag} -> {registry}/cd-{run}/web@{first}" in planned.stdout, planned.stdout

        docker(None, "tag", "lab/worker:1", tag)  # the tag moves to other bytes
        docker(None, "push", tag)
        moved = manifest_digest(registry, f"cd-{run}/web", "live")
        assert moved != first

        refused = cli(manifest, "deploy", str(tmp_path / "plan.json"), "--yes")
        assert refused.returncode == 1, refused.stderr + refused.stdout
        assert f"the image of service web moved since this plan was made: the plan deploys {registry}/cd-{run}/web@{first}, {tag} is now {registry}/cd-{run}/web@{moved}" in refused.stderr, refused.stderr
        assert docker(None, "ps", "-aq", "--filter", f"label=io.portable.app={app}").stdout.strip() == "", "nothing was created"
    finally:
        cli(manifest, "destroy", "-t", "d", "--yes", "--quiet")
        docker(None, "rmi", tag, check=False)


def test_a_registry_that_cannot_be_reached_is_exit_2_at_the_targets_registry_field(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    manifest = write(tmp_path, f"cd-{uuid.uuid4().hex[:6]}", {"image": "lab/web:1"}, {"d": {"provider": "docker", "registry": f"127.0.0.1:{port}/cd"}})
    result = cli(manifest, "plan", "-t", "d")
    assert result.returncode == 2, result.stderr
    line = next(n for n, text in enumerate(manifest.read_text().splitlines(), 1) if "registry:" in text)
    assert f"{manifest}:{line}:" in result.stderr and f"targets.d.registry: registry 127.0.0.1:{port} cannot be reached" in result.stderr, result.stderr
