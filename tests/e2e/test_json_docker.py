"""`-o json` of the commands that read a deployed app, on the lab's Docker engine: open, logs
(one object a line, and streamed with --follow), targets, gc, state list/show/migrate, and
promote between the lab's two engines; each output validated against its schema in
docs/schemas (and migrate --dry-run between them), and the errors (exit 2, one JSON object on
stderr) of open, logs and promote.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_support import Cli, ensure_images, force_remove_app, free_port, wait_for
from json_schemas import validate, validate_lines

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(600)]

APP = "json-docker"
MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {{name: {app}}}
services:
  web:
    image: lab/web:1
    ports: [{{port: 8080, protocol: http, expose: public, published: {port}}}]
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s, timeout: 2s, retries: 10}}
  talker:
    image: {worker}
    replicas: 2
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, str]]:
    images = ensure_images()
    folder = Path(tmp_path_factory.mktemp("json-docker"))
    manifest = folder / "portable.yaml"
    manifest.write_text(MANIFEST.format(app=APP, port=free_port(), worker=images.worker))
    cli = Cli(folder / "state.db", {"PORTABLE_PROXY_IMAGE": images.proxy})
    force_remove_app(APP)
    deployed = cli.run("deploy", "-f", str(manifest), "--yes", "--quiet", "-o", "json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert validate("revision", json.loads(deployed.stdout))["revision"] == 1
    yield cli, str(manifest)
    cli.run("destroy", "-f", str(manifest), "--yes", "--quiet")
    force_remove_app(APP)


def _error(out: subprocess.CompletedProcess[str], code: int = 2) -> dict:  # type: ignore[type-arg]
    assert out.returncode == code and out.stdout == "", out.stdout + out.stderr
    return validate("error", json.loads(out.stderr))  # type: ignore[no-any-return]


def test_open_prints_the_url_as_json_and_it_answers(app: tuple[Cli, str]) -> None:
    cli, manifest = app
    out = cli.run("open", "web", "-f", manifest, "--state", str(cli.state), "-o", "json")
    assert out.returncode == 0, out.stderr
    doc = validate("open", json.loads(out.stdout))
    assert (doc["app"], doc["service"]) == (APP, "web")
    assert wait_for(doc["urls"][0].rstrip("/") + "/cgi-bin/health").strip() == "ok"
    assert "services: talker, web" in _error(cli.run("open", "nope", "-f", manifest, "--state", str(cli.state), "-o", "json"))["error"]


def test_logs_as_json_lines_then_followed_as_they_come(app: tuple[Cli, str]) -> None:
    cli, manifest = app
    out = cli.run("logs", "talker", "-f", manifest, "--tail", "3", "-o", "json")
    assert out.returncode == 0, out.stderr
    lines = validate_lines("logs", out.stdout)
    assert {(r["service"], r["replica"], r["instance"]) for r in lines} == {("talker", 1, f"{APP}-talker-1"), ("talker", 2, f"{APP}-talker-2")}
    assert {r["message"] for r in lines} == {"working"}
    assert "no service named nope" in _error(cli.run("logs", "nope", "-f", manifest, "-o", "json"))["error"]

    follow = subprocess.Popen(["portable", "logs", "talker", "-f", manifest, "--tail", "0", "--follow", "-o", "json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **cli.env})
    try:
        time.sleep(1.5)  # the streams are open: what a replica prints now must arrive at once
        said = cli.run("exec", "talker", "-f", manifest, "--replica", "2", "--", "sh", "-c", "echo json-follow-marker > /proc/1/fd/1")
        assert said.returncode == 0, said.stderr
        deadline = time.monotonic() + 20
        seen: list[dict] = []  # type: ignore[type-arg]
        while not any(r["message"] == "json-follow-marker" for r in seen):
            assert time.monotonic() < deadline, f"the marker line was not streamed; got {seen}"
            ready, _, _ = select.select([follow.stdout], [], [], 1.0)
            if ready:
                line = follow.stdout.readline()  # type: ignore[union-attr]
                assert line, follow.stderr.read()  # type: ignore[union-attr]
                seen += validate_lines("logs", line)
        marker = next(r for r in seen if r["message"] == "json-follow-marker")
        assert (marker["replica"], marker["instance"]) == (2, f"{APP}-talker-2")
    finally:
        follow.terminate()
        follow.wait(timeout=30)


def test_targets_gc_and_the_state_store_as_json(app: tuple[Cli, str], tmp_path: Path) -> None:
    cli, manifest = app
    reached = cli.run("targets", "-f", manifest, "-o", "json")
    assert reached.returncode == 0, reached.stderr
    assert [(t["name"], t["reachable"]) for t in validate("targets", json.loads(reached.stdout))] == [("local", True)]
    gc = cli.run("gc", "-f", manifest, "--state", str(cli.state), "--all-owners", "-o", "json")
    assert gc.returncode == 0, gc.stderr
    [report] = validate("gc", json.loads(gc.stdout))
    assert report["target"] == "local" and not [o for o in report["objects"] if o["app"] == APP]  # all of it is described

    state = ["-f", manifest, "--state", str(cli.state), "-o", "json"]
    listed = validate("state-list", json.loads(cli.run("state", "list", *state).stdout))
    assert [(d["app"], d["target"], d["revision"]) for d in listed["deployments"]] == [(APP, "local", 1)]
    shown = validate("state-show", json.loads(cli.run("state", "show", *state).stdout))
    assert {r["name"] for r in shown["resources"] if r["kind"] == "container"} >= {"web-1", "talker-1", "talker-2"}, shown["resources"]
    copy = ["state", "migrate", *state, "--to", str(tmp_path / "copy.db")]
    first = validate("state-migrate", json.loads(cli.run(*copy).stdout))
    assert [(p["app"], p["revisions"], p["skipped"]) for p in first["pairs"]] == [(APP, 1, False)]
    assert [p["skipped"] for p in validate("state-migrate", json.loads(cli.run(*copy).stdout))["pairs"]] == [True]


PROMOTED = """\
apiVersion: portable/v1
kind: Application
metadata: {{name: json-promote}}
services:
  web:
    image: {registry}/lab/web:1
    ports: [{{port: 8080, protocol: http}}]
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s, timeout: 2s, retries: 10}}
targets:
  staging: {{provider: docker, registry: "{registry}/json-promote"}}
  prod: {{provider: docker, host: "{host_b}", registry: "{registry}/json-promote"}}
"""


@pytest.mark.lab("docker", "docker_b", "registry")
def test_promote_as_json_names_the_digest_it_deployed(tmp_path: Path, registry: str, docker_b_host: str) -> None:
    ensure_images()
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(PROMOTED.format(registry=registry, host_b=docker_b_host))
    cli = Cli(tmp_path / "state.db")
    common = ["-f", str(manifest), "--state", str(cli.state)]
    try:
        refused = _error(cli.run("promote", "--from", "staging", "--to", "prod", *common, "--yes", "-o", "json"))
        assert "staging" in refused["error"], refused
        assert cli.run("deploy", *common, "-t", "staging", "--yes", "--quiet").returncode == 0
        dry = cli.run("migrate", "--from", "staging", "--to", "prod", *common, "--dry-run", "-o", "json")
        assert dry.returncode == 0, dry.stderr
        preview = validate("migrate-preview", json.loads(dry.stdout))
        assert preview["to"] == "prod" and preview["plan"]["summary"]["create"] >= 2 and preview["volumes"] == []
        out = cli.run("promote", "--from", "staging", "--to", "prod", *common, "--yes", "-o", "json")
        assert out.returncode == 0, out.stdout + out.stderr
        doc = validate("promote", json.loads(out.stdout))
        assert (doc["from"], doc["to"], doc["revision_from"], doc["revision"]) == ("staging", "prod", 1, 1)
        ran = subprocess.run(["docker", "-H", docker_b_host, "inspect", "--format", "{{.Config.Image}}", "json-promote-web-1"], capture_output=True, text=True, timeout=60)
        assert ran.stdout.strip() == doc["images"]["web"], ran.stderr
    finally:  # both at once: each waits for its container's stop timeout
        destroys = [subprocess.Popen(["portable", "destroy", *common, "-t", t, "--yes", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for t in ("prod", "staging")]
        for destroy in destroys:
            destroy.wait(timeout=300)
