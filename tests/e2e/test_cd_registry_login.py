"""A target's registry that demands a password (a second Distribution registry on loopback,
htpasswd): a wrong `password_from` is exit 2 at `targets.<t>.registry` before anything is
built, pushed or created; the right one builds, pushes with that login and pins the digest.
The password appears nowhere in the output.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.lab("docker", "registry"), pytest.mark.timeout(300)]


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(server, password) of a registry on loopback that only user `portable` may use."""
    import crypt  # deprecated, but the only bcrypt at hand; the registry wants bcrypt

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "private-registry"
    (root / "data").mkdir(parents=True)
    password = "cd-pw-" + os.urandom(6).hex()
    (root / "htpasswd").write_text(f"portable:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    (root / "config.yml").write_text("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " + str(root / "data") + "\n"
                                     f"http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: lab\n    path: {root / 'htpasswd'}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the private registry did not start"
            time.sleep(0.3)
        yield f"127.0.0.1:{port}", password
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_refused_registry_login_is_exit_2_and_the_right_one_builds_pushes_and_pins(tmp_path: Path, private_registry: tuple[str, str]) -> None:
    server, password = private_registry
    app = f"cd-{uuid.uuid4().hex[:6]}"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "Dockerfile").write_text(f"FROM lab/web:1\nRUN echo {app} > /www/app.txt\n")
    doc = {"apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app},
           "services": {"web": {"build": "./site", "ports": [{"port": 8080}]}},
           "targets": {"d": {"provider": "docker", "registry": {"server": server, "prefix": "cd", "username": "portable", "password_from": "env:CD_REGISTRY_PASSWORD"}}}}
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))

    def plan(secret: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CD_REGISTRY_PASSWORD": secret, "DOCKER_CONFIG": str(tmp_path / "no-docker-config")}
        return subprocess.run([sys.executable, "-m", "portable.cli.main", "plan", "-t", "d", "-f", str(manifest), "--state", str(tmp_path / "s.db")],
                              capture_output=True, text=True, env=env, timeout=240)

    wrong = plan("not-the-password")
    assert wrong.returncode == 2, wrong.stderr
    line = next(n for n, text in enumerate(manifest.read_text().splitlines(), 1) if text.strip().startswith("registry:"))
    assert f"{manifest}:{line}:" in wrong.stderr and f"targets.d.registry: registry {server} refused the login while checking access" in wrong.stderr, wrong.stderr
    assert "building" not in wrong.stderr and "not-the-password" not in wrong.stderr + wrong.stdout

    right = plan(password)
    assert right.returncode == 0, right.stderr
    assert f"web: {server}/cd/{app}-web:" in right.stdout and f"{server}/cd/{app}-web@sha256:" in right.stdout, right.stdout
    assert password not in right.stdout + right.stderr
    built = [ln.split(" -> ")[0].split(": ", 1)[1] for ln in right.stdout.splitlines() if " -> " in ln]
    try:
        # the built image carries the app's, the service's and the target's labels, as everything portable creates
        labels = json.loads(subprocess.run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", built[0]],
                                           capture_output=True, text=True, check=True, timeout=60).stdout)
        assert {k: labels.get(k) for k in ("io.portable.app", "io.portable.service", "io.portable.target")} == {
            "io.portable.app": app, "io.portable.service": "web", "io.portable.target": "d"}, labels
    finally:
        subprocess.run(["docker", "rmi", "-f", *built], capture_output=True, timeout=60)
