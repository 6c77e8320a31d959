"""Compose files deployed as they are (`portable -f compose.yaml deploy`) on the lab's Docker
engine: every service healthy, the published ports answer, volumes keep data across a
redeploy, images are built from the fixture's Dockerfile, and destroy leaves nothing.

The fixtures' `${VAR:-realistic/default}` images point at the lab's local images through
tests/compose/fixtures/lab.env, as examples/lab.env does for the examples.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from compose_support import FIXTURES, LAB_ENV, clean_env, portable

pytestmark = pytest.mark.lab("docker", "images", "dbimages")


def _get(url: str, attempts: int = 20) -> str:
    last: Exception | None = None
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except OSError as exc:
            last = exc
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer: {last}")


class Stack:
    """One fixture deployed with its own state file; destroyed (volumes too) at the end."""

    def __init__(self, name: str, files: list[str], state: Path, docker_host: str) -> None:
        self.cwd = FIXTURES / name
        self.files = [a for f in files for a in ("-f", f)]
        self.state = str(state)
        self.env = clean_env({"DOCKER_HOST": docker_host})

    def run(self, *args: str) -> str:
        done = portable("--env-file", str(LAB_ENV), *args, *self.files, "--state", self.state, cwd=self.cwd, env=self.env, timeout=400)
        assert done.returncode == 0, f"portable {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def destroy(self) -> None:
        portable("--env-file", str(LAB_ENV), "destroy", *self.files, "--state", self.state, "--yes", "--volumes", "--quiet", cwd=self.cwd, env=self.env, timeout=300)

    def deploy(self) -> str:
        return self.run("deploy", "--yes", "--quiet", "--timeout", "180", "--parallelism", "4")

    def status(self) -> dict[str, dict[str, int]]:
        data = json.loads(self.run("status", "-o", "json"))
        return {s["service"]: {"desired": s["desired"], "healthy": s["healthy"]} for s in data["services"]}


@contextmanager
def _stack(name: str, files: list[str], tmp_path: Path, docker_host: str) -> Iterator[Stack]:
    stack = Stack(name, files, tmp_path / "state.db", docker_host)
    stack.destroy()  # whatever an interrupted earlier run left behind
    try:
        yield stack
    finally:
        stack.destroy()


def test_counter_stack_serves_and_keeps_its_data(tmp_path: Path, docker_host: str) -> None:
    with _stack("lab-counter", ["compose.yaml"], tmp_path, docker_host) as stack:
        assert re.search(r"^counter on local: revision \d+ deployed\.$", stack.deploy(), re.MULTILINE)
        assert stack.status() == {"kv": {"desired": 1, "healthy": 1}, "web": {"desired": 1, "healthy": 1}}
        assert _get("http://127.0.0.1:18080/cgi-bin/count") == "count=1 greeting=hello\n"
        inspect = subprocess.run(["docker", "inspect", "-f", "{{.Config.WorkingDir}}", "counter-kv-1"], env=stack.env, capture_output=True, text=True, timeout=30)
        assert inspect.stdout.strip() == "/data"  # compose's working_dir, carried
        assert _get("http://127.0.0.1:18080/cgi-bin/count") == "count=2 greeting=hello\n"
        stack.env["GREETING"] = "bonjour"  # a changed compose value rolls the container; the volume stays
        stack.deploy()
        assert _get("http://127.0.0.1:18080/cgi-bin/count") == "count=3 greeting=bonjour\n"


def test_postgres_and_redis_are_healthy_before_the_front_starts(tmp_path: Path, docker_host: str) -> None:
    with _stack("db-cache", ["compose.yaml"], tmp_path, docker_host) as stack:
        stack.deploy()
        assert stack.status() == {"cache": {"desired": 1, "healthy": 1}, "db": {"desired": 1, "healthy": 1}, "front": {"desired": 1, "healthy": 1}}
        assert _get("http://127.0.0.1:18081/cgi-bin/health") == "ok\n"


def test_a_build_section_is_built_from_the_fixture_dockerfile(tmp_path: Path, docker_host: str) -> None:
    with _stack("build-targets", ["compose.yaml"], tmp_path, docker_host) as stack:
        stack.deploy()
        assert stack.status() == {"app": {"desired": 1, "healthy": 1}}
        # build.target is warned (portable builds the last stage, `runtime` here); the arg arrived
        assert _get("http://127.0.0.1:18090/") == "greeter 1.0.3\n"


def test_a_base_and_a_production_file_deploy_merged(tmp_path: Path, docker_host: str) -> None:
    with _stack("multi-file", ["compose.yaml", "compose.prod.yaml"], tmp_path, docker_host) as stack:
        stack.deploy()
        assert stack.status() == {"api": {"desired": 1, "healthy": 1}, "web": {"desired": 2, "healthy": 2}}
        assert _get("http://127.0.0.1:18082/cgi-bin/health") == "ok\n"  # through the front proxy
