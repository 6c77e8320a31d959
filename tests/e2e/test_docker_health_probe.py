"""A health-checked service is ready when its check passes, not one engine interval later.

Every check here has an interval of 300 s, so the engine's own first run of it cannot happen
during the test: the engine still says "starting" after the deploy, and whatever made the
deploy go on was portable running the check itself (providers/docker/health_probe.py).
What a user sees: the deploy returns, the dependency order holds, the page answers, `status`
counts the services healthy, an update under load fails no request, a check that never
passes still fails the deploy, and one that passes late is waited for.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_support import Cli, Poller, docker_json, ensure_images, force_remove_app, free_port, wait_for

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(600)]

APP = "hprobe"
SLOW_START = "sleep ${SLOW_START_S:-0}; exec /bin/httpd -f -p 8080 -h /www"
MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: hprobe}
services:
  web:
    image: ${WEB_IMAGE}
    env: {GREETING: "${GREETING:-first}"}
    ports: [{port: 8080, expose: public, published: "${PORT}"}]
    health: {http: {path: "${WEB_HEALTH_PATH:-/cgi-bin/health}", port: 8080}, interval: 300s, timeout: 2s, retries: 1}
  api:
    image: ${WEB_IMAGE}
    command: ["/bin/sh", "-c", "SLOW"]
    depends_on: [web]
    stop_grace_period: 1s
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 300s, timeout: 2s}
targets:
  local: {provider: docker}
""".replace("SLOW", SLOW_START)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, Path, str]]:
    images = ensure_images()
    port = free_port()
    workdir = Path(tmp_path_factory.mktemp("hprobe"))
    manifest = workdir / "portable.yaml"
    manifest.write_text(MANIFEST)
    cli = Cli(workdir / "state.db", {"WEB_IMAGE": images.web, "PORT": str(port), "PORTABLE_PROXY_IMAGE": images.proxy})
    force_remove_app(APP)
    yield cli, manifest, f"http://127.0.0.1:{port}/cgi-bin/count"
    force_remove_app(APP)


def _engine_health(*names: str) -> dict[str, str]:
    return {d["Name"].lstrip("/"): d["State"]["Health"]["Status"] for d in docker_json("inspect", *names)}


def _started(name: str) -> str:
    return str(docker_json("inspect", name)[0]["State"]["StartedAt"])


def test_deploy_goes_on_when_the_check_passes_not_at_the_engines_first_run(app: tuple[Cli, Path, str]) -> None:
    cli, manifest, url = app
    result = cli.run("deploy", "-f", str(manifest), "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "hprobe-web-1 is healthy" in result.stderr and "hprobe-api-1 is healthy" in result.stderr, result.stderr
    # the engine has not run either check yet (300 s interval): the deploy did not wait for it
    assert _engine_health("hprobe-web-1", "hprobe-api-1") == {"hprobe-web-1": "starting", "hprobe-api-1": "starting"}
    assert _started("hprobe-api-1") > _started("hprobe-web-1"), "api was started before web was seen healthy"
    assert wait_for(url).startswith("count=")
    status = cli.run("status", "-f", str(manifest), "-o", "json")
    assert status.returncode == 0, status.stderr
    counts = {s["service"]: (s["desired"], s["running"], s["healthy"]) for s in json.loads(status.stdout)["services"]}
    assert counts == {"api": (1, 1, 1), "web": (1, 1, 1)}, counts
    again = cli.run("deploy", "-f", str(manifest), "--yes")
    assert again.returncode == 0 and "no changes" in again.stdout, again.stdout + again.stderr


def test_an_update_under_load_switches_to_the_new_container_without_a_failed_request(app: tuple[Cli, Path, str]) -> None:
    cli, manifest, url = app
    before = docker_json("inspect", "hprobe-web-1")[0]["Id"]
    poller = Poller(url)
    poller.start()
    try:
        result = cli.run("deploy", "-f", str(manifest), "--yes", extra_env={"GREETING": "second"})
    finally:
        poller.stop()
    assert result.returncode == 0, result.stderr + result.stdout
    assert poller.failures == [] and poller.ok > 0, poller.failures[:5]
    after = docker_json("inspect", "hprobe-web-1")[0]
    assert after["Id"] != before and after["State"]["Health"]["Status"] == "starting"
    assert "GREETING=second" in after["Config"]["Env"]


def test_a_check_that_never_passes_still_fails_the_deploy_and_the_old_one_serves(app: tuple[Cli, Path, str]) -> None:
    cli, manifest, url = app
    serving = docker_json("inspect", "hprobe-web-1")[0]["Id"]
    # retries 1 and a 300 s interval: only the engine's first run may call it unhealthy, so the
    # deploy's own wait is cut by the timeout instead, as the check never passes
    result = cli.run("deploy", "-f", str(manifest), "--yes", "--timeout", "8", extra_env={"GREETING": "third", "WEB_HEALTH_PATH": "/no-such-page"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "did not become healthy within" in result.stderr and "keeps serving the previous revision" in result.stderr, result.stderr
    assert docker_json("inspect", "hprobe-web-1")[0]["Id"] == serving
    assert wait_for(url).startswith("count=")


def test_a_check_that_passes_late_is_waited_for(app: tuple[Cli, Path, str]) -> None:
    cli, manifest, _ = app
    result = cli.run("deploy", "-f", str(manifest), "--yes", extra_env={"GREETING": "second", "SLOW_START_S": "3"})
    assert result.returncode == 0, result.stderr + result.stdout
    assert "hprobe-api-1-next is healthy" in result.stderr, result.stderr  # a start-first replacement
    api = docker_json("inspect", "hprobe-api-1")[0]
    assert api["State"]["Health"]["Status"] == "starting" and any("sleep 3" in part for part in [*(api["Config"]["Entrypoint"] or []), *(api["Config"]["Cmd"] or [])])
    destroyed = cli.run("destroy", "-f", str(manifest), "--yes")
    assert destroyed.returncode == 0, destroyed.stderr
