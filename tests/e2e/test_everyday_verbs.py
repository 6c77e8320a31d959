"""`portable config`, `open` and `completion`, through the CLI as a user types them.

`config` needs no target (it prints the manifest as it applies to one); `open` asks the real
Docker engine where the deployed service answers, and the URL it prints is fetched;
`completion` is checked by asking the generated completion for what `portable dep` expands to.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from docker_support import EXAMPLES, Cli, ensure_images, force_remove_app, free_port, wait_for

SHOP = str(EXAMPLES / "shop" / "portable.yaml")
HELLO = str(EXAMPLES / "hello" / "portable.yaml")
TOKEN = "everyday-verbs-token-6f1c"


def _portable(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # the installed entry point, as users run it (completion keys on the program's name)
    return subprocess.run(["portable", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def test_config_prints_the_interpolated_manifest_with_secrets_as_references() -> None:
    result = _portable("config", "-f", SHOP, env={"SHOP_API_TOKEN": TOKEN, "SHOP_WEB_IMAGE": "registry.example.com/shop/web:9.9"})
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    doc = yaml.safe_load(result.stdout)
    assert doc["services"]["web"]["image"] == "registry.example.com/shop/web:9.9"  # ${SHOP_WEB_IMAGE:-...} applied
    assert doc["secrets"]["api-token"]["from"] == "env:SHOP_API_TOKEN"
    assert doc["targets"] == {"local": {"provider": "docker"}}


def test_config_json_and_services_list() -> None:
    as_json = _portable("config", "-f", SHOP, "-o", "json", env={"SHOP_API_TOKEN": TOKEN})
    assert as_json.returncode == 0, as_json.stderr
    assert sorted(json.loads(as_json.stdout)["services"]) == ["api", "kv", "web", "worker"]
    names = _portable("config", "-f", SHOP, "--services", env={"SHOP_API_TOKEN": TOKEN})
    assert names.returncode == 0 and sorted(names.stdout.split()) == ["api", "kv", "web", "worker"]


def test_config_of_an_unknown_target_is_refused_with_exit_2() -> None:
    result = _portable("config", "-f", HELLO, "-t", "nowhere")
    assert result.returncode == 2
    assert "nowhere" in result.stderr


def test_bash_completion_expands_a_command_name() -> None:
    script = _portable("completion", "bash")
    assert script.returncode == 0 and "_PORTABLE_COMPLETE=bash_complete" in script.stdout
    answer = _portable(env={"COMP_WORDS": "portable dep", "COMP_CWORD": "1", "_PORTABLE_COMPLETE": "bash_complete"})
    assert "plain,deploy" in answer.stdout.splitlines()  # click's bash protocol: type,value per line
    assert _portable("completion", "tcsh").returncode == 2


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, int]]:
    images = ensure_images()
    port = free_port()
    state = Path(tmp_path_factory.mktemp("everyday")) / "state.db"
    cli = Cli(state, {
        "WEB_IMAGE": images.web, "WEB_PORT": "8080", "WEB_HEALTH_PATH": "/cgi-bin/health",
        "HELLO_PUBLISHED_PORT": str(port), "PORTABLE_PROXY_IMAGE": images.proxy, "GREETING": "everyday",
    })
    force_remove_app("hello")
    yield cli, port
    force_remove_app("hello")


@pytest.mark.lab("docker")
def test_open_prints_the_url_that_answers(hello: tuple[Cli, int]) -> None:
    cli, port = hello
    deployed = cli.run("deploy", "-f", HELLO, "--yes", "--quiet")
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    result = cli.run("open", "web", "-f", HELLO, "--state", str(cli.state))
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[0]
    assert url.startswith("http://") and str(port) in url
    assert "greeting=everyday" in wait_for(url.rstrip("/") + "/cgi-bin/count")
    unknown = cli.run("open", "nope", "-f", HELLO, "--state", str(cli.state))
    assert unknown.returncode == 2 and "services: web" in unknown.stderr
