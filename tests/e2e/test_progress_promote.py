"""Progress users can follow (issue 20 item 5) during `promote`, on a pseudo-terminal: the copy
of the running image between registry prefixes (portable/delivery/registry.py copy_image) is a
TRANSFER row in bytes with a rate, and the promoted service ends 1/1 ready on the destination.

The staging deploy builds a `build:` service with a 2 MB layer and pushes it to the lab
registry; promote copies it, blob by blob through the registry API, under the prod prefix.
"""
from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from test_progress_docker import ANSI, _user_env, last_frame, run_on_terminal
from test_progress_kubernetes import BYTES_ROW, transfers

pytestmark = [pytest.mark.lab("docker", "docker_b", "registry"), pytest.mark.timeout(300)]


def test_on_a_terminal_promote_shows_the_image_copy_between_registries_in_bytes(tmp_path: Path, registry: str, docker_b_host: str) -> None:
    run = uuid.uuid4().hex[:6]
    app = f"progress-promote-{run}"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "Dockerfile").write_text(f"FROM lab/web:1\nRUN head -c 2000000 /dev/urandom > /www/noise.bin && echo {run} > /www/run.txt\n")
    doc = {"apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app},
           "services": {"web": {"build": "./site", "ports": [{"port": 8080}], "stop_grace_period": "1s",
                                "health": {"http": {"path": "/cgi-bin/health", "port": 8080}, "interval": "1s", "retries": 10}}},
           "targets": {"staging": {"provider": "docker", "registry": f"{registry}/{app}-staging"},
                       "prod": {"provider": "docker", "host": docker_b_host, "registry": f"{registry}/{app}-prod"}}}
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    common = ["-f", str(manifest), "--state", str(tmp_path / "state.db")]
    env = {"PORTABLE_PROXY_IMAGE": "lab/kamal-proxy:1"}
    try:
        staged = subprocess.run(["portable", "deploy", *common, "-t", "staging", "--yes", "--quiet"], capture_output=True, text=True,
                                env=_user_env(env), timeout=180)
        assert staged.returncode == 0, staged.stderr + staged.stdout
        code, out = run_on_terminal(["portable", "promote", *common, "--from", "staging", "--to", "prod", "--yes"], extra_env=env, timeout=180)
        assert code == 0, out
        copied = transfers(out)[f"image web -> {registry}"]
        assert re.fullmatch(BYTES_ROW, copied), copied
        assert re.match(r"^\d+\.\d MB / \d+\.\d MB", copied) and float(copied.split()[0]) >= 2.0, copied  # the 2 MB layer among the blobs
        assert last_frame(out)["web"][:2] == ["1/1", "ready"], last_frame(out)
        assert "copying " in ANSI.sub("", out)  # the line plain mode always printed is still there
        served = subprocess.run(["docker", "-H", docker_b_host, "exec", f"{app}-web-1", "cat", "/www/run.txt"], capture_output=True, text=True, timeout=30)
        assert served.stdout.strip() == run, served.stderr
    finally:
        for target in ("prod", "staging"):
            subprocess.run(["portable", "destroy", *common, "-t", target, "--yes", "--quiet"], capture_output=True, env=_user_env(env), timeout=180)
