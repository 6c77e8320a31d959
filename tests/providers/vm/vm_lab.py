"""Running rendered bootstraps like cloud-init would, on the lab's Docker engine (shared by
the vm and aws lab tests)."""
from __future__ import annotations

import os
import random
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml


def free_loopback(port: int) -> str:
    """A 127.0.0.x address where `port` is free: each simulated VM gets its own."""
    for x in random.sample(range(20, 250), 60):
        address = f"127.0.0.{x}"
        with socket.socket() as s:
            try:
                s.bind((address, port))
                return address
            except OSError:
                continue
    raise RuntimeError(f"no loopback address has port {port} free")


def bootstrap_of(user_data: str) -> str:
    doc = yaml.safe_load(user_data)
    assert doc["runcmd"] == [["sh", "/var/lib/portable/bootstrap.sh"]]
    return str(doc["write_files"][0]["content"])


def run_vm(user_data: str, root: Path, docker_host: str, bind: str) -> subprocess.CompletedProcess[str]:
    """Runs the user data's bootstrap like cloud-init would, minus the host setup."""
    root.mkdir(parents=True, exist_ok=True)
    script = root / "bootstrap.sh"
    script.write_text(bootstrap_of(user_data))
    env = dict(os.environ, DOCKER_HOST=docker_host, PORTABLE_SKIP_HOST_SETUP="1", PORTABLE_ROOT=str(root), PORTABLE_BIND_ADDRESS=bind)
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=300)


def docker(docker_host: str, *args: str) -> str:
    out = subprocess.run(["docker", "-H", docker_host, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


@pytest.fixture
def vm_containers(docker_host: str) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["docker", "-H", docker_host, "rm", "-f", name], capture_output=True, timeout=60)
