"""Sealed archives against the real parts: AWS KMS (moto) wraps a data key per archive, and a
migration into a target whose VMs restore at first boot is refused while planning.

- `--encryption-key kms:alias/...`: GenerateDataKey seals, the header carries only the wrapped
  key, Decrypt opens it (no key given at restore); an archive whose wrapped key another KMS
  key made, or that was sealed under a key KMS no longer grants, is one sentence, exit 2.
- `portable migrate` of a stateful app into aws without --plaintext-transit: exit 2 before
  anything is exported or created, in one sentence that says why.
"""
from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import boto3
import pytest

from portable.data.archive import read_index, write_archive
from portable.data.archive_keys import ArchiveKeys
from portable.data.sealed import header_of
from portable.errors import InputError

pytestmark = [pytest.mark.lab("moto"), pytest.mark.timeout(120)]


def _tar(files: dict[str, bytes]) -> list[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return [buf.getvalue()]


@pytest.fixture
def kms_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def _new_key(alias: str) -> str:
    kms = boto3.client("kms")
    key_id = kms.create_key(Description="portable sealed-archive test")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return key_id


def test_kms_wrapped_data_key_round_trip_and_refusals(kms_env: dict[str, str], tmp_path: Path) -> None:
    alias = f"alias/sealed-test-{uuid.uuid4().hex[:8]}"
    _new_key(alias)
    files = {"orders.json": b'{"id": 1}', "blob.bin": os.urandom(300_000)}
    keys = ArchiveKeys(f"kms:{alias}", "sealed-kms", lambda: b"\0" * 32)
    info = write_archive("data", _tar(files), tmp_path / "data.tar.gz", strip="data", key=keys.sealing())
    header = header_of(info.path)
    assert header["key"]["kind"] == "kms" and header["key"]["key_id"] == alias
    wrapped = base64.b64decode(header["key"]["wrapped"])
    assert len(wrapped) > 32  # KMS ciphertext, not the key
    opened_key = ArchiveKeys(None, "sealed-kms", lambda: b"\0" * 32).opening(info.path, "data.tar.gz")
    assert opened_key.key not in info.path.read_bytes() and base64.b64encode(opened_key.key) not in info.path.read_bytes()
    assert opened_key.key.hex() not in json.dumps(header) and "Plaintext" not in json.dumps(header)

    # restore needs no key: KMS Decrypt opens the wrapped one
    with ArchiveKeys(None, "sealed-kms", lambda: b"\0" * 32).plaintext(info.path, tmp_path / "scratch") as plain:
        assert {e["path"] for e in read_index(plain)["files"]} == set(files)
        with tarfile.open(plain, "r:gz") as tar:
            member = tar.extractfile("blob.bin")
            assert member is not None and member.read() == files["blob.bin"]

    # the wrapped key swapped for one another KMS key made: another key, one sentence, exit 2
    other = f"alias/sealed-test-{uuid.uuid4().hex[:8]}"
    _new_key(other)
    forged = write_archive("data", _tar(files), tmp_path / "other.tar.gz", strip="data", key=ArchiveKeys(f"kms:{other}", "sealed-kms", lambda: b"").sealing())
    raw = forged.path.read_bytes()
    raw = raw.replace(header_of(forged.path)["key"]["wrapped"].encode(), header["key"]["wrapped"].encode())
    (tmp_path / "swapped.tar.gz").write_bytes(raw)
    with pytest.raises(InputError) as refused:
        with ArchiveKeys(None, "sealed-kms", lambda: b"").plaintext(tmp_path / "swapped.tar.gz", tmp_path / "scratch", "swapped.tar.gz"):
            pass
    assert refused.value.exit_code == 2
    assert refused.value.message == "archive swapped.tar.gz was sealed with another key; pass the --encryption-key it was made with"
    assert not list((tmp_path / "scratch").glob(".unsealed-*"))


MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {{name: sealed-refusal}}
services:
  web:
    image: lab/web:1
    volumes: ["data:/data"]
volumes:
  data: {{}}
targets:
  local: {{provider: docker}}
  aws:
    provider: aws
    region: us-east-1
    endpoint_url: {moto}
    ami: ami-1e749f67
    readiness: instance
"""


def test_migration_into_first_boot_restore_is_refused_while_planning(kms_env: dict[str, str], moto_url: str, tmp_path: Path) -> None:
    (tmp_path / "portable.yaml").write_text(MANIFEST.format(moto=moto_url))
    ec2 = boto3.client("ec2")
    before = len([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]])
    done = subprocess.run(["portable", "migrate", "-f", str(tmp_path / "portable.yaml"), "--from", "local", "--to", "aws", "--dry-run",
                           "--blob-store", "s3://portable-sealed-refusal/x"], capture_output=True, text=True, timeout=60, env={**os.environ, **kms_env},
                          cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "target `aws` (aws) restores volumes at its instances' first boot, which cannot open sealed archives" in done.stderr
    assert "--plaintext-transit" in done.stderr
    assert len([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]) == before
    assert not (tmp_path / ".portable" / "archives").exists()


