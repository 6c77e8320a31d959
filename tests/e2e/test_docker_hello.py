"""examples/hello on the real Docker engine, through the CLI, the way a user drives it.

One deployment walks its life in order: deploy and answer over HTTP, redeploy unchanged
(nothing touched), redeploy a changed env var under load (no failed request), a revision
whose health check fails (old one keeps serving, exit 1, health output shown), rollback,
destroy (nothing of the app left).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_support import EXAMPLES, Cli, Poller, app_objects, container_starts, ensure_images, force_remove_app, free_port, http_get, wait_for

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(900)]

MANIFEST = str(EXAMPLES / "hello" / "portable.yaml")


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, str]]:
    images = ensure_images()
    port = free_port()
    state = Path(tmp_path_factory.mktemp("hello")) / "state.db"
    cli = Cli(state, {
        "WEB_IMAGE": images.web, "WEB_PORT": "8080", "WEB_HEALTH_PATH": "/cgi-bin/health",
        "HELLO_PUBLISHED_PORT": str(port), "PORTABLE_PROXY_IMAGE": images.proxy, "GREETING": "first",
    })
    force_remove_app("hello")
    yield cli, f"http://127.0.0.1:{port}/cgi-bin/count"
    force_remove_app("hello")


def test_deploy_serves_the_page(hello: tuple[Cli, str]) -> None:
    cli, url = hello
    result = cli.run("deploy", "-f", MANIFEST, "--target", "local", "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "revision 1 deployed" in result.stdout
    assert wait_for(url).strip() == "count=1 greeting=first"
    objects = app_objects("hello")
    assert "hello-web-1" in objects["containers"] and objects["networks"] == ["hello"]


def test_status_shows_the_public_endpoint(hello: tuple[Cli, str]) -> None:
    cli, url = hello
    result = cli.run("status", "-f", MANIFEST)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("web "))
    assert row.split()[1:4] == ["1", "1", "1"]  # desired, running, healthy
    assert url.rsplit("/cgi-bin", 1)[0] in row


def test_redeploy_unchanged_touches_nothing(hello: tuple[Cli, str]) -> None:
    cli, _ = hello
    before = container_starts("hello")
    result = cli.run("deploy", "-f", MANIFEST, "--yes")
    assert result.returncode == 0, result.stderr
    assert "no changes" in result.stdout
    assert container_starts("hello") == before


def test_changed_env_rolls_out_without_a_failed_request(hello: tuple[Cli, str]) -> None:
    cli, url = hello
    poller = Poller(url)
    poller.start()
    try:
        result = cli.run("deploy", "-f", MANIFEST, "--yes", extra_env={"GREETING": "second"})
    finally:
        poller.stop()
    assert result.returncode == 0, result.stderr + result.stdout
    assert "env.GREETING: 'first' -> 'second'" in result.stdout
    assert poller.failures == [], poller.failures[:5]
    assert poller.ok > 20
    assert any("greeting=first" in b for b in poller.bodies) and poller.bodies[-1].endswith("greeting=second")
    cli.env["GREETING"] = "second"


def test_unhealthy_revision_keeps_the_old_one_serving(hello: tuple[Cli, str]) -> None:
    cli, url = hello
    poller = Poller(url)
    poller.start()
    try:
        result = cli.run("deploy", "-f", MANIFEST, "--yes", extra_env={"GREETING": "broken", "WEB_HEALTH_PATH": "/cgi-bin/missing"})
    finally:
        poller.stop()
    assert result.returncode == 1
    assert "unhealthy" in result.stderr
    assert "404 Not Found" in result.stderr  # the failing health check's own output
    assert "keeps serving" in result.stderr
    assert poller.failures == [], poller.failures[:5]
    assert http_get(url).strip().endswith("greeting=second")
    assert app_objects("hello")["containers"] == ["hello-proxy-" + url.split(":")[2].split("/")[0], "hello-web-1"]


def test_rollback_returns_to_the_first_revision(hello: tuple[Cli, str]) -> None:
    cli, url = hello
    result = cli.run("rollback", "-f", MANIFEST, "--to", "1")
    assert result.returncode == 0, result.stderr + result.stdout
    assert http_get(url).strip().endswith("greeting=first")
    history = cli.run("history", "-f", MANIFEST)
    assert "failed" in history.stdout and "rollback" in history.stdout


def test_destroy_leaves_nothing(hello: tuple[Cli, str]) -> None:
    cli, url = hello
    result = cli.run("destroy", "-f", MANIFEST, "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert app_objects("hello") == {"containers": [], "networks": [], "volumes": []}
    with pytest.raises(OSError):
        http_get(url, timeout=2)
