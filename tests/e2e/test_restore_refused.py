"""`portable restore` on a target that cannot write into a deployed app's volumes (here aws
without its SSH channel: no `key_name`/`ssh`) is refused before anything is read or stopped:
exit 2, one sentence naming the target, what it cannot do, that restore needs it, and what to set.

The targets point at addresses where nothing listens (port 1), so a command that tried to
reach one would fail differently.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: cap}
services:
  db:
    image: lab/kv:1
    volumes: [{volume: data, path: /data}]
volumes:
  data: {}
targets:
  cloud: {provider: aws, region: us-east-1, endpoint_url: "http://127.0.0.1:1"}
"""


def test_restore_on_a_target_without_the_role_is_refused_up_front(tmp_path: Path) -> None:
    (tmp_path / "portable.yaml").write_text(MANIFEST)
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "backup.json").write_text('{"format": "portable-backup/v1", "app": "cap", "archives": []}')
    out = subprocess.run([sys.executable, "-m", "portable.cli.main", "restore", "-t", "cloud", "--from", str(backup), "--yes"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "target `cloud` (aws) cannot restore volume data into the deployed app" in out.stderr and "restore needs it" in out.stderr, out.stderr
    assert "`key_name`" in out.stderr, out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr
