"""Docker target features beyond the examples, on the real engine through the CLI.

Each test writes a small manifest of its own (a unique app name) into tmp_path: `build:`
services tagged by content hash, scaling behind the proxy, a tcp port published directly,
config files, followed logs, and an engine that cannot be reached.
"""
from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_support import Cli, LabImages, app_objects, container_starts, docker_json, ensure_images, force_remove_app, free_port, http_get, wait_for

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def images() -> LabImages:
    return ensure_images()


@pytest.fixture
def app_cli(tmp_path: Path, images: LabImages, request: pytest.FixtureRequest) -> Iterator[tuple[Cli, str]]:
    name = "dkt-" + request.node.name.removeprefix("test_").replace("_", "-")[:20].rstrip("-")
    force_remove_app(name)
    yield Cli(tmp_path / "state.db", {"PORTABLE_PROXY_IMAGE": images.proxy}), name
    force_remove_app(name)


def _write(tmp_path: Path, text: str) -> str:
    file = tmp_path / "portable.yaml"
    file.write_text(text)
    return str(file)


def _web(name: str, port: int, extra: str = "", replicas: int = 1, protocol: str = "http", image: str = "lab/web:1") -> str:
    return f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  web:
    image: {image}
    replicas: {replicas}
    stop_grace_period: 1s
    ports: [{{port: 8080, protocol: {protocol}, expose: public, published: {port}}}]
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s, timeout: 2s, retries: 3}}
{extra}"""


def test_build_service_is_tagged_by_content_and_rebuilt_only_on_change(tmp_path: Path, app_cli: tuple[Cli, str]) -> None:
    cli, name = app_cli
    port = free_port()
    ctx = tmp_path / "site"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM lab/web:1\nCOPY index.html /www/index.html\n")
    run_id = uuid.uuid4().hex[:8]  # a context never built before on this engine
    (ctx / "index.html").write_text(f"version one {run_id}\n")
    manifest = _write(tmp_path, _web(name, port).replace("image: lab/web:1", "build: ./site"))
    first = cli.run("deploy", "-f", manifest, "--yes")
    assert first.returncode == 0, first.stderr + first.stdout
    assert wait_for(f"http://127.0.0.1:{port}/") == f"version one {run_id}\n"
    tag = docker_json("inspect", f"{name}-web-1")[0]["Config"]["Image"]
    assert tag.startswith(f"{name}/web:") and len(tag.split(":")[1]) == 12
    image_labels = docker_json("image", "inspect", tag)[0]["Config"]["Labels"]
    assert image_labels["io.portable.app"] == name and image_labels["io.portable.service"] == "web"
    assert image_labels["io.portable.target"] == "local"  # the target whose plan built it
    again = cli.run("deploy", "-f", manifest, "--yes")
    assert "no changes" in again.stdout and "building" not in again.stderr
    (ctx / "index.html").write_text(f"version two {run_id}\n")
    second = cli.run("deploy", "-f", manifest, "--yes")
    assert second.returncode == 0, second.stderr + second.stdout
    assert "building" in second.stderr
    assert http_get(f"http://127.0.0.1:{port}/") == f"version two {run_id}\n"
    assert docker_json("inspect", f"{name}-web-1")[0]["Config"]["Image"] != tag


def test_scaling_touches_only_the_added_or_removed_replicas(tmp_path: Path, app_cli: tuple[Cli, str]) -> None:
    cli, name = app_cli
    port = free_port()
    result = cli.run("deploy", "-f", _write(tmp_path, _web(name, port)), "--yes")
    assert result.returncode == 0, result.stderr
    first = container_starts(name)[f"{name}-web-1"]
    result = cli.run("deploy", "-f", _write(tmp_path, _web(name, port, replicas=3)), "--yes")
    assert result.returncode == 0, result.stderr
    assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete." in result.stdout
    assert container_starts(name)[f"{name}-web-1"] == first
    for _ in range(12):
        http_get(f"http://127.0.0.1:{port}/cgi-bin/count")
    served = [int(subprocess.run(["docker", "exec", f"{name}-web-{i}", "cat", "/data/count"], capture_output=True, text=True).stdout or 0)
              for i in (1, 2, 3)]
    assert all(n > 0 for n in served), f"every replica behind the proxy answers: {served}"
    result = cli.run("deploy", "-f", _write(tmp_path, _web(name, port, replicas=1)), "--yes")
    assert result.returncode == 0, result.stderr
    assert "Plan: 0 to create, 0 to update, 0 to replace, 2 to delete." in result.stdout
    assert [c for c in app_objects(name)["containers"] if "-web-" in c] == [f"{name}-web-1"]
    assert container_starts(name)[f"{name}-web-1"] == first
    assert http_get(f"http://127.0.0.1:{port}/cgi-bin/health").strip() == "ok"


def test_tcp_port_is_published_directly_and_replicas_refused(tmp_path: Path, app_cli: tuple[Cli, str]) -> None:
    cli, name = app_cli
    port = free_port()
    result = cli.run("deploy", "-f", _write(tmp_path, _web(name, port, protocol="tcp")), "--yes")
    assert result.returncode == 0, result.stderr
    assert not any("proxy" in c for c in app_objects(name)["containers"])
    assert wait_for(f"http://127.0.0.1:{port}/cgi-bin/health").strip() == "ok"
    refused = cli.run("deploy", "-f", _write(tmp_path, _web(name, port, protocol="tcp", replicas=2)), "--yes")
    assert refused.returncode == 2
    assert f"2 replicas cannot all bind host port {port}" in refused.stderr


def test_config_files_and_followed_logs(tmp_path: Path, app_cli: tuple[Cli, str], images: LabImages) -> None:
    cli, name = app_cli
    manifest = _write(tmp_path, f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  tick:
    image: {images.worker}
    replicas: 2
    command: ["sh", "-c", "cat /etc/tick/conf; i=0; while true; do i=$$((i+1)); echo tick $$i; sleep 1; done"]
    stop_grace_period: 1s
    files:
      - path: /etc/tick/conf
        content: "interval=1"
        mode: 0600
""")
    result = cli.run("deploy", "-f", manifest, "--yes")
    assert result.returncode == 0, result.stderr
    listing = subprocess.run(["docker", "exec", f"{name}-tick-1", "ls", "-ln", "/etc/tick/conf"], capture_output=True, text=True).stdout.split()
    assert listing[0] == "-rw-------"
    follower = subprocess.Popen(["portable", "logs", "-f", manifest, "--follow", "--tail", "1"], stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + 90  # wait for the stream, not for a guess of how long start-up takes
    while len(lines) < 6 and time.monotonic() < deadline and follower.poll() is None:
        time.sleep(0.1)
    follower.send_signal(signal.SIGINT)
    follower.wait(timeout=20)
    reader.join(timeout=5)
    lines = [line.rstrip("\n") for line in lines]
    assert any(line.startswith(f"{name}-tick-1 | tick ") for line in lines), lines
    assert any(line.startswith(f"{name}-tick-2 | tick ") for line in lines), lines
    assert len(lines) >= 6  # more than the 2 lines of --tail 1: the stream kept coming


def test_unreachable_engine_is_one_clear_sentence(tmp_path: Path, app_cli: tuple[Cli, str]) -> None:
    cli, name = app_cli
    manifest = _write(tmp_path, _web(name, free_port()) + "targets:\n  far:\n    provider: docker\n    host: unix:///nonexistent/docker.sock\n")
    result = cli.run("deploy", "-f", manifest, "--target", "far", "--yes")
    assert result.returncode == 1
    assert "cannot reach the Docker engine" in result.stderr
    assert "Traceback" not in result.stderr
    targets = cli.run("targets", "-f", manifest)
    assert "far" in targets.stdout and "cannot reach" in targets.stdout + targets.stderr


def test_crash_looping_service_fails_with_its_output_and_one_shot_job_succeeds(tmp_path: Path, app_cli: tuple[Cli, str], images: LabImages) -> None:
    cli, name = app_cli
    manifest = _write(tmp_path, f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  migrate:
    image: {images.worker}
    command: ["sh", "-c", "echo schema migrated"]
    restart: "no"
  broken:
    image: {images.worker}
    command: ["sh", "-c", "echo cannot open config >&2; exit 3"]
    depends_on: [migrate]
""")
    result = cli.run("deploy", "-f", manifest, "--yes", timeout=300)
    assert result.returncode == 1
    assert f"{name}-broken-1" in result.stderr
    assert "cannot open config" in result.stderr  # the failing container's own output
    assert f"{name}-migrate-1 finished its work (exit 0)" in result.stderr


def test_rotated_secret_rolls_its_service_without_showing_the_value(tmp_path: Path, app_cli: tuple[Cli, str]) -> None:
    cli, name = app_cli
    port = free_port()
    manifest = _write(tmp_path, _web(name, port).replace("    stop_grace_period: 1s\n", "    stop_grace_period: 1s\n    secrets: [db-password]\n")
                      + "secrets:\n  db-password:\n    from: env:DKT_DB_PASSWORD\n")
    result = cli.run("deploy", "-f", manifest, "--yes", extra_env={"DKT_DB_PASSWORD": "first-Pa55"})
    assert result.returncode == 0, result.stderr
    unchanged = cli.run("deploy", "-f", manifest, "--yes", extra_env={"DKT_DB_PASSWORD": "first-Pa55"})
    assert "no changes" in unchanged.stdout
    poll_before = http_get(f"http://127.0.0.1:{port}/cgi-bin/health")
    rotated = cli.run("deploy", "-f", manifest, "--yes", extra_env={"DKT_DB_PASSWORD": "second-Pa55"})
    assert rotated.returncode == 0, rotated.stderr
    assert "~ container/web-1" in rotated.stdout and "secrets:" in rotated.stdout
    for out in (result, unchanged, rotated):
        assert "Pa55" not in out.stdout + out.stderr
    value = subprocess.run(["docker", "exec", f"{name}-web-1", "cat", "/run/secrets/db-password"], capture_output=True, text=True).stdout
    assert value == "second-Pa55"
    assert poll_before.strip() == http_get(f"http://127.0.0.1:{port}/cgi-bin/health").strip() == "ok"


def test_user_limits_and_secret_owner(tmp_path: Path, app_cli: tuple[Cli, str], images: LabImages) -> None:
    cli, name = app_cli
    manifest = _write(tmp_path, f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  job:
    image: {images.worker}
    command: ["sh", "-c", "while true; do sleep 1; done"]
    user: "1000:1000"
    stop_grace_period: 1s
    restart: unless-stopped
    resources: {{cpu: 250m, memory: 64Mi}}
    secrets: [api-key]
secrets:
  api-key:
    from: env:DKT_API_KEY
""")
    result = cli.run("deploy", "-f", manifest, "--yes", extra_env={"DKT_API_KEY": "k-123"})
    assert result.returncode == 0, result.stderr
    container = f"{name}-job-1"
    host = docker_json("inspect", container)[0]["HostConfig"]
    assert host["NanoCpus"] == 250_000_000 and host["Memory"] == 64 * 1024 * 1024
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert docker_json("inspect", container)[0]["Config"]["StopTimeout"] == 1
    whoami = subprocess.run(["docker", "exec", container, "id", "-u"], capture_output=True, text=True).stdout.strip()
    assert whoami == "1000"
    # the secret belongs to the container's user, readable by it alone
    listing = subprocess.run(["docker", "exec", container, "ls", "-ln", "/run/secrets/api-key"], capture_output=True, text=True).stdout.split()
    assert listing[0] == "-r--------" and listing[2:4] == ["1000", "1000"]
    assert subprocess.run(["docker", "exec", container, "cat", "/run/secrets/api-key"], capture_output=True, text=True).stdout == "k-123"


def test_proxy_follows_a_replica_whose_address_changed(tmp_path: Path, app_cli: tuple[Cli, str], images: LabImages) -> None:
    cli, name = app_cli
    port = free_port()
    result = cli.run("deploy", "-f", _write(tmp_path, _web(name, port)), "--yes")
    assert result.returncode == 0, result.stderr
    container = f"{name}-web-1"

    def address() -> str:
        return str(docker_json("inspect", container)[0]["NetworkSettings"]["Networks"][name]["IPAddress"])

    before = address()
    subprocess.run(["docker", "stop", "-t", "1", container], check=True, capture_output=True)
    # another container takes the freed address (the engine hands out the lowest free one)
    squatter = subprocess.run(["docker", "run", "-d", "--network", name, images.worker],
                              check=True, capture_output=True, text=True).stdout.strip()
    try:
        subprocess.run(["docker", "start", container], check=True, capture_output=True)
        assert address() != before  # what an engine restart can do to every container
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if http_get(f"http://127.0.0.1:{port}/cgi-bin/health").strip() == "ok":
                    break
            except OSError:
                time.sleep(0.5)
        assert http_get(f"http://127.0.0.1:{port}/cgi-bin/health").strip() == "ok"
    finally:
        subprocess.run(["docker", "rm", "-f", squatter], capture_output=True)
