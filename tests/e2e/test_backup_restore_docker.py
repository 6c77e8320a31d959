"""`portable backup` and `portable restore` on the real Docker engine: the data comes back.

Archives are sealed at rest by default (the app's key from the state store): the file in the
blob store shows nothing of the volume, a flipped byte or another key is refused before any
writer is stopped, and no key turns up in output, state or the blob store (leak scanner)."""
from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from typing import Any

from docker_support import Cli, ensure_images, force_remove_app, free_port, http_get, wait_for

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(600)]

APP = "backup-restore"


def test_backup_then_restore_brings_the_data_back(tmp_path: Path, leak_secrets: Any) -> None:
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
        archive = tmp_path / ".portable" / "archives" / APP / backup_id / "data.tar.gz"
        sealed = archive.read_bytes()
        assert sealed.startswith(b"PORTABLE-SEALED") and b"count" not in sealed and b".portable-index" not in sealed

        # a flipped byte: refused in one sentence, exit non-zero, the volume untouched
        archive.write_bytes(sealed[:len(sealed) // 2] + bytes([sealed[len(sealed) // 2] ^ 1]) + sealed[len(sealed) // 2 + 1:])
        tampered = cli.run("restore", "-f", str(manifest), "--from", backup_id, "--yes")
        assert tampered.returncode != 0 and "data.tar.gz was changed, truncated or damaged since it was sealed" in tampered.stderr, tampered.stderr
        archive.write_bytes(sealed)
        before = http_get(url).strip()

        # a backup sealed with a key from the environment; restore with another key: exit 2, one sentence
        key = os.urandom(32)
        leak_secrets.values.update({"BR_KEY_B64": base64.b64encode(key).decode(), "BR_KEY_HEX": key.hex()})
        keys = {"BR_KEY": base64.b64encode(key).decode(), "BR_OTHER": os.urandom(32).hex()}
        keyed = cli.run("backup", "-f", str(manifest), "--encryption-key", "env:BR_KEY", extra_env=keys)
        assert keyed.returncode == 0, keyed.stderr
        keyed_id = keyed.stdout.split()[1]
        wrong = cli.run("restore", "-f", str(manifest), "--from", keyed_id, "--yes", "--encryption-key", "env:BR_OTHER", extra_env=keys)
        assert wrong.returncode == 2, wrong.stderr
        assert "archive " + f"{APP}/{keyed_id}/data.tar.gz was sealed with another key; pass the --encryption-key it was made with" in wrong.stderr
        missing = cli.run("restore", "-f", str(manifest), "--from", keyed_id, "--yes")
        assert missing.returncode == 2 and "sealed with the key from env:BR_KEY" in missing.stderr, missing.stderr
        count = lambda text: int(text.split()[0].removeprefix("count="))  # noqa: E731
        assert count(http_get(url)) == count(before) + 1  # nothing was restored: the count went on
        for done in (tampered, keyed, wrong, missing):
            leak_secrets.record("backup/restore output", done.stdout + done.stderr)
        leak_secrets.values["BR_OTHER"] = keys["BR_OTHER"]
        leak_secrets.watch(tmp_path / ".portable")  # the state store, the blob store, scratch files
    finally:
        cli.run("destroy", "-f", str(manifest), "--yes", "--volumes")
        force_remove_app(APP)
