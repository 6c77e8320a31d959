"""`portable backup` and `portable restore` on the real Docker engine: the data comes back."""
from __future__ import annotations

from pathlib import Path

import pytest

from docker_support import Cli, ensure_images, force_remove_app, free_port, http_get, wait_for

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(600)]

APP = "backup-restore"


def test_backup_then_restore_brings_the_data_back(tmp_path: Path) -> None:
    images = ensure_images()
    port = free_port()
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  kv:
    image: {images.web}
    ports:
      - {{port: 8080, expose: public, published: {port}}}
    volumes: ["data:/data"]
    health:
      http: {{path: /cgi-bin/health, port: 8080}}
      interval: 1s
volumes:
  data: {{}}
""")
    cli = Cli(tmp_path / "state.db", {"PORTABLE_PROXY_IMAGE": images.proxy})
    url = f"http://127.0.0.1:{port}/cgi-bin/count"
    force_remove_app(APP)
    try:
        assert cli.run("deploy", "-f", str(manifest), "--yes").returncode == 0
        wait_for(url)
        assert http_get(url).strip().startswith("count=2")
        backup = cli.run("backup", "-f", str(manifest), "--quiesce")
        assert backup.returncode == 0, backup.stderr
        backup_id = backup.stdout.split()[1]
        wait_for(url, timeout=60)  # writers resumed after the quiesced backup
        for _ in range(5):
            http_get(url)
        assert http_get(url).strip().startswith("count=9")
        refused = cli.run("restore", "-f", str(manifest), "--from", "no-such-backup", "--yes")
        assert refused.returncode == 2 and "no backup 'no-such-backup'" in refused.stderr
        restored = cli.run("restore", "-f", str(manifest), "--from", backup_id, "--yes")
        assert restored.returncode == 0, restored.stderr
        assert "restored volumes: data" in restored.stdout
        assert wait_for(url, timeout=60).strip().startswith("count=3")  # back to the backed-up 2, plus this read
        index = next((tmp_path / ".portable" / "archives" / APP / backup_id).glob("backup.json"))
        assert '"volume": "data"' in index.read_text()
    finally:
        cli.run("destroy", "-f", str(manifest), "--yes", "--volumes")
        force_remove_app(APP)
