"""examples/shop on the real Docker engine, through the CLI: four services, a volume, a secret.

Checks what a user of the shop would notice: the public page answers from both web
replicas, services start in dependency order and healthy, the secret is a root-only file
and appears nowhere else, data on the volume survives a redeploy, logs are prefixed by
replica, and destroy keeps the data volume unless asked with --volumes.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_support import EXAMPLES, Cli, Poller, app_objects, container_starts, docker_json, ensure_images, force_remove_app, free_port, http_get, wait_for

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(900)]

MANIFEST = str(EXAMPLES / "shop" / "portable.yaml")
TOKEN = "tok-5f1c9e-never-print-me"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, str]]:
    images = ensure_images()
    port = free_port()
    state = Path(tmp_path_factory.mktemp("shop")) / "state.db"
    health = "wget -q -O /dev/null http://127.0.0.1:8080/cgi-bin/health"
    cli = Cli(state, {
        # lab/web stands in for nginx, the api and the store: an http server keeping a counter in /data
        "SHOP_WEB_IMAGE": images.web, "SHOP_API_IMAGE": images.web, "SHOP_KV_IMAGE": images.web,
        "SHOP_WORKER_IMAGE": images.worker,
        "SHOP_WEB_PORT": "8080", "SHOP_API_PORT": "8080", "SHOP_KV_PORT": "8080",
        "SHOP_WEB_HEALTH_PATH": "/cgi-bin/health", "SHOP_API_HEALTH_PATH": "/cgi-bin/health", "SHOP_KV_HEALTH": health,
        "SHOP_PUBLISHED_PORT": str(port), "SHOP_API_TOKEN": TOKEN, "PORTABLE_PROXY_IMAGE": images.proxy,
    })
    force_remove_app("shop")
    yield cli, f"http://127.0.0.1:{port}"
    force_remove_app("shop")


def _kv_count(path: str = "/cgi-bin/count") -> str:
    out = subprocess.run(["docker", "exec", "shop-kv-1", "wget", "-q", "-O-", f"http://127.0.0.1:8080{path}"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip()


def test_deploy_starts_every_service_healthy_in_order(shop: tuple[Cli, str]) -> None:
    cli, base = shop
    result = cli.run("deploy", "-f", MANIFEST, "--target", "local", "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    progress = result.stderr
    # depends_on: kv is healthy before api starts, api before web and worker
    assert progress.index("shop-kv-1 is healthy") < progress.index("starting shop-api-1")
    assert progress.index("shop-api-1 is healthy") < progress.index("starting shop-web-1")
    assert progress.index("shop-api-1 is healthy") < progress.index("starting shop-worker-1")
    assert wait_for(base + "/cgi-bin/count").startswith("count=")
    status = cli.run("status", "-f", MANIFEST)
    services = ("api", "kv", "web", "worker")
    rows = {line.split()[0]: line.split()[1:4] for line in status.stdout.splitlines() if line.split()[:1] in [[s] for s in services]}
    assert rows == {"api": ["1", "1", "1"], "kv": ["1", "1", "1"], "web": ["2", "2", "2"], "worker": ["1", "1", "1"]}


def test_public_port_is_balanced_over_both_web_replicas(shop: tuple[Cli, str]) -> None:
    _, base = shop
    for _ in range(10):
        http_get(base + "/cgi-bin/count")
    counts = [int(subprocess.run(["docker", "exec", f"shop-web-{i}", "cat", "/data/count"], capture_output=True,
                                 text=True, check=True).stdout) for i in (1, 2)]
    assert all(c >= 3 for c in counts), counts


def test_secret_is_a_root_only_file_and_nowhere_else(shop: tuple[Cli, str], tmp_path: Path) -> None:
    cli, _ = shop
    listing = subprocess.run(["docker", "exec", "shop-api-1", "ls", "-ln", "/run/secrets/api-token"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert listing[0] == "-r--------" and listing[2:4] == ["0", "0"]
    value = subprocess.run(["docker", "exec", "shop-worker-1", "cat", "/run/secrets/token"], capture_output=True, text=True, check=True).stdout
    assert value == TOKEN
    for name in ("shop-api-1", "shop-worker-1"):
        assert TOKEN not in subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=True).stdout
    outputs = [cli.run("plan", "-f", MANIFEST), cli.run("status", "-f", MANIFEST),
               cli.run("render", "-f", MANIFEST, "-o", str(tmp_path / "rendered")),
               cli.run("logs", "-f", MANIFEST, "--tail", "20")]
    for out in outputs:
        assert out.returncode == 0, out.stderr
        assert TOKEN not in out.stdout + out.stderr
    for file in (tmp_path / "rendered").rglob("*"):
        if file.is_file():
            assert TOKEN not in file.read_text()
    assert "api-token" in (tmp_path / "rendered" / "docker-compose.yaml").read_text()
    assert cli.state.exists() and TOKEN.encode() not in cli.state.read_bytes()


def test_logs_are_prefixed_by_replica(shop: tuple[Cli, str]) -> None:
    cli, _ = shop
    result = cli.run("logs", "-f", MANIFEST, "worker", "--tail", "5")
    assert result.returncode == 0, result.stderr
    assert "shop-worker-1 | worker: processing orders for shop" in result.stdout.splitlines()


def test_volume_data_survives_a_redeploy_of_its_service(shop: tuple[Cli, str]) -> None:
    cli, base = shop
    assert _kv_count() == "count=1 greeting="
    assert _kv_count() == "count=2 greeting="
    kv_before = container_starts("shop")["shop-kv-1"]
    poller = Poller(base + "/cgi-bin/count")
    poller.start()
    try:
        # a changed env var on kv and web: both roll; web keeps answering through the proxy
        result = cli.run("deploy", "-f", MANIFEST, "--yes", extra_env={"GREETING": "sale"})
    finally:
        poller.stop()
    assert result.returncode == 0, result.stderr + result.stdout
    assert "~ container/web-1" in result.stdout and "~ container/web-2" in result.stdout
    assert poller.failures == [], poller.failures[:5]
    assert poller.bodies[-1].endswith("greeting=sale")
    assert container_starts("shop")["shop-kv-1"] == kv_before
    # a new memory limit replaces the store's container (stop-first: it holds a volume)
    result = cli.run("deploy", "-f", MANIFEST, "--yes", extra_env={"GREETING": "sale", "SHOP_KV_MEMORY": "192Mi"})
    assert result.returncode == 0, result.stderr + result.stdout
    assert "resources" not in result.stdout or "~ container/kv-1" in result.stdout
    assert container_starts("shop")["shop-kv-1"] != kv_before
    assert docker_json("inspect", "shop-kv-1")[0]["HostConfig"]["Memory"] == 192 * 1024 * 1024
    assert _kv_count() == "count=3 greeting="


def test_destroy_keeps_the_data_volume_unless_asked(shop: tuple[Cli, str]) -> None:
    cli, base = shop
    result = cli.run("destroy", "-f", MANIFEST, "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert app_objects("shop") == {"containers": [], "networks": [], "volumes": ["shop_data"]}
    with pytest.raises(OSError):
        http_get(base + "/", timeout=2)
    # a new deployment finds the data where it was left
    result = cli.run("deploy", "-f", MANIFEST, "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert _kv_count() == "count=4 greeting="
    result = cli.run("destroy", "-f", MANIFEST, "--yes", "--volumes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert app_objects("shop") == {"containers": [], "networks": [], "volumes": []}
