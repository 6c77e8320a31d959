"""The approved plan is the applied plan (terraform's `plan -out`), on the lab's Docker engine.

`portable plan --out plan.json` then `portable deploy plan.json` applies exactly the saved
actions; a change made between the two (out of band on the target, a new revision in the
state, an edited manifest) makes deploy refuse with exit 1 and touch nothing.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest

pytestmark = pytest.mark.lab("docker", "images")
SECRET = "saved-plan-secret-" + uuid.uuid4().hex[:8]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _manifest(path: Path, name: str, greeting: str, port: int) -> Path:
    path.write_text(f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  web:
    image: lab/web:1
    env: {{GREETING: "{greeting}"}}
    secrets: [{{name: token}}]
    ports: [{{port: 8080, protocol: http, expose: public, published: {port}}}]
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s, timeout: 2s, retries: 10}}
secrets:
  token: {{from: "env:SAVED_PLAN_TOKEN"}}
""")
    return path


def _portable(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAVED_PLAN_TOKEN": SECRET, "PORTABLE_PROXY_IMAGE": "lab/kamal-proxy:1"}
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def _containers(name: str) -> list[tuple[str, str]]:
    client = docker.from_env()
    return sorted((c.name, c.attrs["Config"]["Labels"].get("io.portable.revision", "")) for c in client.containers.list(all=True, filters={"label": f"io.portable.app={name}"}))


@pytest.fixture
def app(tmp_path: Path):
    name = "saved-" + uuid.uuid4().hex[:6]
    manifest = _manifest(tmp_path / "portable.yaml", name, "one", _free_port())
    yield name, manifest
    _portable("destroy", "-f", str(manifest), "--yes", "--quiet", cwd=tmp_path)


def test_deploy_of_a_saved_plan_applies_exactly_its_actions(app, tmp_path: Path) -> None:
    name, manifest = app
    made = _portable("plan", "-f", str(manifest), "--out", "plan.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert SECRET not in (tmp_path / "plan.json").read_text() and SECRET not in made.stdout
    planned = sorted((a["op"], a["resource"]) for a in saved["plan"]["actions"])
    assert planned and all(op == "create" for op, _ in planned)
    assert _containers(name) == []  # planning changed nothing

    done = _portable("deploy", "plan.json", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{name} on local: revision 1 deployed." in done.stdout
    applied = sorted(line.split()[1] for line in done.stdout.splitlines() if line.startswith("  + "))
    assert applied == sorted(resource for _, resource in planned)
    assert SECRET not in done.stdout + done.stderr

    # the same plan file again: the state moved on, so it is refused and nothing changes
    before = _containers(name)
    again = _portable("deploy", "plan.json", "--quiet", cwd=tmp_path)
    assert again.returncode == 1
    assert "the state moved to revision 1 since this plan was made (before the first revision); run plan again" in again.stderr
    assert _containers(name) == before


def test_a_change_on_the_target_between_plan_and_deploy_is_refused(app, tmp_path: Path) -> None:
    name, manifest = app
    assert _portable("deploy", "-f", str(manifest), "--yes", "--quiet", cwd=tmp_path).returncode == 0
    _manifest(manifest, name, "two", _published(manifest))
    made = _portable("plan", "-f", str(manifest), "--out", "update.json", cwd=tmp_path)
    assert made.returncode == 0 and "~" in made.stdout, made.stdout + made.stderr

    # out of band: someone removes a container the plan was computed against
    client = docker.from_env()
    victim = client.containers.list(all=True, filters={"label": [f"io.portable.app={name}", "io.portable.service=web"]})
    assert victim
    victim[0].remove(force=True)
    before = _containers(name)

    refused = _portable("deploy", "update.json", "--quiet", cwd=tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the target changed since this plan was made" in refused.stderr
    assert _containers(name) == before  # nothing touched
    history = _portable("history", "-f", str(manifest), "-o", "json", cwd=tmp_path)
    assert [r["revision"] for r in json.loads(history.stdout)] == [1]


def test_a_saved_plan_is_refused_after_the_manifest_changed(app, tmp_path: Path) -> None:
    name, manifest = app
    assert _portable("plan", "-f", str(manifest), "--out", "p.json", cwd=tmp_path).returncode == 0
    _manifest(manifest, name, "edited", _published(manifest))
    refused = _portable("deploy", "p.json", "--quiet", cwd=tmp_path)
    assert refused.returncode == 1 and "the manifest changed since this plan was made; run plan again" in refused.stderr
    assert _containers(name) == []


def test_a_file_that_is_not_a_saved_plan_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    out = _portable("deploy", "junk.json", cwd=tmp_path)
    assert out.returncode == 2 and "not a saved plan" in out.stderr


def _published(manifest: Path) -> int:
    text = manifest.read_text()
    return int(text.split("published: ")[1].split("}")[0])
