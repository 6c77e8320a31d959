"""A migration resumed after a crash still says how long writes were unavailable.

Found by the grand tour: its SIGKILLed hop, rerun, printed no "writes were unavailable"
line, because the window was measured from a moment kept only in the memory of the process
that stopped the writers. The quiesce step now records when it stopped them in the journal,
so the rerun reports the whole window, from the first run's stop to the destination healthy.
"""
from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from docker_support import Cli, ensure_images
from test_migrate_docker import cleanup, docker_on

pytestmark = [pytest.mark.lab("docker", "docker_b"), pytest.mark.timeout(600)]

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {{name: {app}}}
services:
  kv:
    image: {image}
    volumes:
      - {{volume: data, path: /data}}
volumes:
  data: {{size: 1Gi}}
targets:
  a: {{provider: docker, host: "{a}"}}
  b: {{provider: docker, host: "{b}"}}
"""


def test_a_resumed_migration_reports_the_whole_write_unavailable_window(tmp_path: Path, docker_host: str, docker_b_host: str) -> None:
    app = f"window-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST.format(app=app, image=ensure_images().worker, a=docker_host, b=docker_b_host))
    cli = Cli(tmp_path / "state.db")
    argv = ["migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "a", "--to", "b", "--yes", "--quiesce"]
    try:
        assert cli.run("deploy", "-f", str(manifest), "-t", "a", "--yes").returncode == 0
        docker_on(docker_host, "exec", f"{app}-kv-1", "sh", "-c", "echo kept > /data/kept.txt")
        killed = cli.run(*argv, extra_env={"PORTABLE_CRASHPOINT": "migrate.after-export"})  # writers stopped, data exported
        assert killed.returncode == -9, killed.stdout + killed.stderr
        paused = 3.0
        time.sleep(paused)  # the window goes on while nothing runs
        again = cli.run(*argv)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already done (resuming)" in again.stderr
        said = re.search(r"writes were unavailable for ([\d.]+)s", again.stdout)
        assert said, again.stdout
        assert float(said.group(1)) >= paused  # from the first run's stop, not the rerun's start
        assert docker_on(docker_b_host, "exec", f"{app}-kv-1", "cat", "/data/kept.txt").stdout == "kept\n"
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "b", "--yes", "--volumes")
        cli.run("destroy", "-f", str(manifest), "-t", "a", "--yes", "--volumes")
        cleanup(app, docker_host, docker_b_host)
