"""The docker translation, without an engine: what a manifest becomes, and what it refuses.

Pure checks of behaviour users rely on: secret values never enter a spec, an unchanged
manifest gives identical digests (so a redeploy plans nothing), a changed secret or build
context rolls the service, dependencies follow depends_on, and manifests the engine cannot
honour (two services on one host port, replicas on a directly published port) are refused
with exit code 2 before anything is touched.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from portable.errors import InputError
from portable.manifest import load_app
from portable.providers.docker.provider import DockerProvider
from portable.providers.docker.settings import DockerSettings

BASE = """
apiVersion: portable/v1
kind: Application
metadata: {name: demo}
services:
  web:
    image: nginx:1.27
    replicas: 2
    env: {MODE: prod}
    secrets: [token]
    ports: [{port: 80, expose: public, published: 8080}]
    health: {http: {path: /healthz, port: 80}, interval: 3s}
    depends_on: [db]
    resources: {cpu: 500m, memory: 64Mi}
  db:
    image: postgres:16
    volumes: ["pgdata:/var/lib/postgresql/data"]
    health: {exec: {command: pg_isready}}
volumes: {pgdata: {size: 5Gi}}
secrets: {token: {from: "env:DEMO_TOKEN"}}
"""


def _translate(tmp_path: Path, text: str = BASE, env: dict[str, str] | None = None, **settings: object):
    file = tmp_path / "portable.yaml"
    file.write_text(text)
    app = load_app(file, "local", env=env if env is not None else {"DEMO_TOKEN": "hunter2-secret"})
    app = replace(app, digest_key=lambda: b"k" * 32)  # what the session binds from the state store
    return {r.key: r for r in DockerProvider("local", DockerSettings(**settings)).translate(app)}


def test_resources_and_dependency_order(tmp_path: Path) -> None:
    res = _translate(tmp_path)
    assert sorted(res) == ["container/db-1", "container/web-1", "container/web-2", "network/demo", "proxy/proxy-8080", "volume/pgdata"]
    assert res["volume/pgdata"].stateful and res["volume/pgdata"].spec["name"] == "demo_pgdata"
    # not on its front proxy: replicas start beside it, and whichever is ready second routes
    assert set(res["container/web-1"].depends_on) == {"network/demo", "container/db-1"}
    assert set(res["container/db-1"].depends_on) == {"network/demo", "volume/pgdata"}
    web = res["container/web-1"].spec
    assert web["cpus"] == 0.5 and web["memory"] == 64 * 1024 * 1024
    assert web["ports"] == [{"port": 80, "protocol": "http", "expose": "public", "published": 8080, "via": "proxy"}]
    assert web["health"]["test"][0] == "CMD-SHELL" and "http://127.0.0.1:80/healthz" in web["health"]["test"][1]
    assert res["container/db-1"].spec["health"]["test"] == ["CMD", "pg_isready"]


def test_secret_values_never_enter_a_spec(tmp_path: Path) -> None:
    res = _translate(tmp_path)
    assert "hunter2-secret" not in json.dumps([r.to_dict() for r in res.values()])
    assert res["container/web-1"].spec["secrets"][0]["path"] == "/run/secrets/token"


def test_same_manifest_same_digests_and_changed_secret_rolls(tmp_path: Path) -> None:
    first = _translate(tmp_path)
    again = _translate(tmp_path)
    assert {k: r.digest for k, r in first.items()} == {k: r.digest for k, r in again.items()}
    rotated = _translate(tmp_path, env={"DEMO_TOKEN": "rotated"})
    assert rotated["container/web-1"].digest != first["container/web-1"].digest
    assert rotated["container/db-1"].digest == first["container/db-1"].digest


def test_two_services_on_one_host_port_are_refused(tmp_path: Path) -> None:
    text = BASE.replace("  db:\n    image: postgres:16\n", "  db:\n    image: postgres:16\n    ports: [{port: 5432, protocol: tcp, expose: public, published: 8080}]\n")
    with pytest.raises(InputError, match="port 8080 is already published"):
        _translate(tmp_path, text)


def test_replicas_on_a_directly_published_port_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="2 replicas cannot all bind host port 8080") as err:
        _translate(tmp_path, proxy=False)
    assert err.value.exit_code == 2


def test_without_proxy_http_is_published_directly(tmp_path: Path) -> None:
    res = _translate(tmp_path, BASE.replace("replicas: 2", "replicas: 1"), proxy=False)
    assert "proxy/proxy-8080" not in res
    assert res["container/web-1"].spec["ports"][0]["via"] == "direct"


def test_build_context_hash_tags_the_image(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM lab/busybox:1\n")
    (tmp_path / "app" / "main.sh").write_text("echo 1\n")
    text = BASE.replace("image: nginx:1.27", "build: ./app")
    first = _translate(tmp_path, text)["container/web-1"].spec["image"]
    assert first.startswith("demo/web:") and len(first.split(":")[1]) == 12
    assert _translate(tmp_path, text)["container/web-1"].spec["image"] == first
    (tmp_path / "app" / "main.sh").write_text("echo 2\n")
    assert _translate(tmp_path, text)["container/web-1"].spec["image"] != first


def test_bad_target_setting_is_exit_code_2(tmp_path: Path) -> None:
    file = tmp_path / "portable.yaml"
    file.write_text(BASE + "targets:\n  box:\n    provider: docker\n    proxy_imag: x\n")
    result = subprocess.run(["portable", "validate", "-f", str(file)], capture_output=True, text=True, env={"DEMO_TOKEN": "x", "PATH": "/usr/local/bin:/usr/bin:/bin:" + str(Path(subprocess.sys.executable).parent)})
    assert result.returncode == 2
    assert "proxy_imag" in result.stderr + result.stdout


def test_render_is_a_compose_file_without_secret_values(tmp_path: Path, lab: Any) -> None:
    lab.require("compose")   # docker compose v2, built and installed by the lab (tests/lab/parts.sh)
    file = tmp_path / "portable.yaml"
    file.write_text(BASE)
    app = load_app(file, "local", env={"DEMO_TOKEN": "hunter2-secret"})
    provider = DockerProvider("local", DockerSettings())
    paths = provider.render(app, provider.translate(app), tmp_path / "out")
    text = paths[0].read_text()
    assert "hunter2-secret" not in text
    check = subprocess.run(["docker", "compose", "-f", str(paths[0]), "config"], capture_output=True, text=True,
                           env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "hunter2-secret" not in check.stdout + check.stderr
