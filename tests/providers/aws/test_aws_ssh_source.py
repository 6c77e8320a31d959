"""AWS as a data source, through SSH to its instances (issue 14, item 1), against moto and the
instance brought up in the lab at the private address moto assigned (tests/providers/vm/instance_host.py);
and as a destination whose instance restores the data at first boot in that lab host.

The instance is a real host: sshd (Debian's openssh-server) with the key pair's public key,
the instance's real user data run in it, so the service's container runs and its volume is
the directory the bootstrap made. portable reaches it exactly as it would reach an EC2
instance: to its private address, as the key pair's user, host key trusted on first use
(moto's console output prints none) and checked ever after.
"""
from __future__ import annotations

import json
import random
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from ssh_source import (  # noqa: E402
    MOTO_UBUNTU_AMI, SshApp, archive_checksums, backup_archives, checksums, container_running, deployed, docker_volume_checksums, fed_migration, new_app,
    refused_before_anything_changes, secrets_absent, service_sees, ssh_yaml, target_yaml, write_data,
)

pytestmark = [pytest.mark.lab("moto", "docker", "registry", "images", "dbimages"), pytest.mark.timeout(900)]

REGIONS = ("ap-southeast-3", "me-central-1", "il-central-1")  # no other test's regions


def aws_settings(app: SshApp, moto_url: str, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"provider": "aws", "region": app.region, "endpoint_url": moto_url, "ami": MOTO_UBUNTU_AMI, "readiness": "instance",
                                "key_name": app.key_name, "ssh": ssh_yaml(app.key_file)}
    settings.update(overrides)
    return {k: v for k, v in settings.items() if v is not None}


@pytest.fixture
def aws_app(tmp_path: Path, moto_url: str, docker_host: str) -> Iterator[SshApp]:
    app = new_app(tmp_path, moto_url, docker_host, random.choice(REGIONS), "aws")
    app.target = "aws"
    app.write(target_yaml("aws", aws_settings(app, moto_url)))
    yield app
    app.labs.close(app.app)
    app.cli("destroy", "-t", "aws", "--yes", "--volumes")
    app.cli("destroy", "-t", "local", "--yes", "--volumes")
    app.ec2.delete_key_pair(KeyName=app.key_name)


def test_backup_over_ssh_holds_exactly_the_files_in_the_instance_volume(aws_app: SshApp) -> None:
    deployed(aws_app)
    (host,) = aws_app.boot_all()
    written = write_data(host.volume("data"))

    backup = aws_app.cli("backup", "-t", "aws")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    backup_id = backup.stdout.split()[1]
    (archive,) = backup_archives(aws_app.dir, aws_app.app, backup_id)
    assert archive_checksums(archive) == written
    # trusted on first use: the instance's host key is recorded under its id
    known = (aws_app.dir / ".portable" / "known_hosts").read_text()
    assert host.instance_id in known and "ssh-" in known
    secrets_absent(aws_app.key_file, backup.stdout, backup.stderr, archive.read_bytes().decode("latin-1"))


def test_migrate_aws_to_docker_with_quiesce_moves_the_data_and_terminates_the_instance(aws_app: SshApp, docker_host: str) -> None:
    (iid,) = deployed(aws_app)
    (host,) = aws_app.boot_all()
    written = write_data(host.volume("data"))

    moved = aws_app.cli("migrate", "--from", "aws", "--to", "local", "--quiesce", "--yes")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"{aws_app.app} now runs on local." in moved.stdout
    journal = json.loads(next((aws_app.dir / ".portable" / "migrations").glob("*.json")).read_text())
    assert journal["steps"]["quiesce"]["output"]["stopped"] == [f"vm-{aws_app.app}-web on {iid}"]  # over SSH
    assert [a["phase"] for a in journal["archives"]] == ["base", "final"]  # two passes: the bulk while serving

    # the service on Docker sees exactly the files that were on the instance
    assert docker_volume_checksums(docker_host, f"{aws_app.app}_data") == written
    assert service_sees(docker_host, aws_app.app, "/data") == written

    # the source is retired: the instance is terminated on moto; its writer stayed stopped
    assert aws_app.instance_states([iid])[iid] in ("shutting-down", "terminated")
    assert container_running(docker_host, f"vm-{aws_app.app}-web") is False

    # no key material in output, journal or state
    journal_text = "".join(p.read_text() for p in (aws_app.dir / ".portable" / "migrations").glob("*.json"))
    state = (aws_app.dir / "state.db").read_bytes().decode("latin-1")
    assert sqlite3.connect(aws_app.dir / "state.db").execute("select count(*) from sqlite_master").fetchone()[0] > 0  # a real store was read
    secrets_absent(aws_app.key_file, moved.stdout, moved.stderr, journal_text, state)


def test_without_a_key_pair_the_source_is_refused_naming_key_name(aws_app: SshApp, moto_url: str, docker_host: str) -> None:
    aws_app.write(target_yaml("aws", aws_settings(aws_app, moto_url, key_name=None, ssh=None)))
    (iid,) = deployed(aws_app)
    migrate_err, backup_err = refused_before_anything_changes(aws_app, docker_host, iid, None)
    for err in (migrate_err, backup_err):
        assert "cannot" in err and "without SSH" in err and "`key_name`" in err and "`ssh`" in err, err
    # `ssh` alone is refused while validating, at its line
    aws_app.write(target_yaml("aws", aws_settings(aws_app, moto_url, key_name=None)))
    invalid = aws_app.cli("migrate", "--from", "aws", "--to", "local", "--yes")
    assert invalid.returncode == 2 and "`ssh` needs `key_name`" in invalid.stderr and "portable.yaml:" in invalid.stderr, invalid.stderr


def test_an_unreachable_instance_is_refused_at_plan_time_naming_ssh_address(aws_app: SshApp, docker_host: str) -> None:
    (iid,) = deployed(aws_app)  # no lab host: nothing answers at its private address on the lab network
    migrate_err, backup_err = refused_before_anything_changes(aws_app, docker_host, iid, None)
    for err in (migrate_err, backup_err):
        assert f"cannot reach instance {iid} of service web" in err and "`ssh.address` on target aws" in err, err


def test_a_refused_key_is_refused_at_plan_time_naming_ssh_key_file(aws_app: SshApp, moto_url: str, docker_host: str) -> None:
    (iid,) = deployed(aws_app)
    (host,) = aws_app.boot_all()
    other = aws_app.ec2.create_key_pair(KeyName=f"{aws_app.app}-other", KeyType="ed25519")
    wrong = aws_app.dir / "keys" / "other"
    wrong.write_text(other["KeyMaterial"])
    wrong.chmod(0o600)
    aws_app.write(target_yaml("aws", aws_settings(aws_app, moto_url, ssh=dict(ssh_yaml(wrong)))))
    try:
        migrate_err, backup_err = refused_before_anything_changes(aws_app, docker_host, iid, host)
    finally:
        aws_app.ec2.delete_key_pair(KeyName=f"{aws_app.app}-other")
    for err in (migrate_err, backup_err):
        assert "refused SSH login as root" in err and "`ssh.key_file` on target aws" in err, err
    secrets_absent(wrong, migrate_err, backup_err)


def test_a_changed_host_key_is_refused_at_plan_time(aws_app: SshApp, docker_host: str) -> None:
    (iid,) = deployed(aws_app)
    (host,) = aws_app.boot_all()
    written = write_data(host.volume("data"))
    first = aws_app.cli("backup", "-t", "aws")  # first contact: the host key is recorded
    assert first.returncode == 0, first.stderr
    # something else answers at the instance's address now: same address, new host keys
    aws_app.labs.remove(iid, aws_app.app)
    aws_app.hosts = []
    (again,) = aws_app.boot_all()
    assert again.address == host.address
    migrate_err, backup_err = refused_before_anything_changes(aws_app, docker_host, iid, again)
    for err in (migrate_err, backup_err):
        assert f"the SSH host key of instance {iid}" in err and "known_hosts" in err and "refusing to connect" in err, err
    assert checksums(again.volume("data")) == written  # the data is untouched


def test_migrate_docker_to_aws_restores_the_data_at_first_boot_in_the_instance(aws_app: SshApp, docker_host: str, moto_url: str) -> None:
    """AWS as the destination: the archives go to S3 (moto, reached through the lab bridge's
    address so the instance can fetch them), and the instance's real user data, run in its lab
    host, restores them before the service starts. moto runs no guest, so the migration has
    finished (instance `running`) before the lab host boots it: the order differs, the work not."""
    import io
    import subprocess
    import tarfile

    aws_app.env["AWS_ENDPOINT_URL"] = aws_app.labs.gateway_endpoint(moto_url)  # the blob store's S3; the target keeps its endpoint_url
    done = aws_app.cli("deploy", "-t", "local", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    written = write_data(aws_app.dir / "seed")
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:
        tar.add(aws_app.dir / "seed", arcname=".")
    filled = subprocess.run(["docker", "-H", docker_host, "run", "-i", "--rm", "-v", f"{aws_app.app}_data:/v", "lab/busybox:1", "/bin/busybox", "tar", "-C", "/v", "-xf", "-"],
                            input=packed.getvalue(), capture_output=True, timeout=120)
    assert filled.returncode == 0, filled.stderr

    moved = aws_app.cli("migrate", "--from", "local", "--to", "aws", "--quiesce", "--yes", "--blob-store", f"s3://portable-archives/{aws_app.app}",
                        "--plaintext-transit")  # first boot fetches an unsealed copy (docs/security.md)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    (host,) = aws_app.boot_all()  # runs the user data: restore step (busybox wget from S3), then the service
    assert host.bootstrap is not None and "portable: volume data restored" in host.bootstrap.stdout, host.bootstrap
    assert host.bootstrap.stdout.count("portable: restoring data from") == 2  # base and final archives of the two-pass copy
    assert checksums(host.volume("data")) == written
    seen = subprocess.run(["docker", "-H", docker_host, "exec", f"vm-{aws_app.app}-web", "sh", "-c", "cd /data && find . -type f ! -name '.portable*' | sort | xargs sha256sum"],
                          capture_output=True, text=True, timeout=60)
    assert {line.split()[1][2:]: line.split()[0] for line in seen.stdout.splitlines()} == written, seen.stderr
    assert container_running(docker_host, f"vm-{aws_app.app}-web") is True
    ps = subprocess.run(["docker", "-H", docker_host, "ps", "-a", "--filter", f"label=io.portable.app={aws_app.app}", "--format", "{{.Names}}"], capture_output=True, text=True, timeout=60)
    assert ps.stdout.split() == []  # Docker retired


def test_migrate_docker_to_aws_feeds_the_sealed_archives_over_ssh(aws_app: SshApp, docker_host: str, moto_url: str) -> None:
    """Without --plaintext-transit (issue 18): the instance's bootstrap waits and portable writes
    the archives it opened into it over SSH (ssh_source.fed_migration)."""
    fed_migration(aws_app, docker_host, moto_url)


def test_restore_puts_a_backup_back_into_the_running_instance_over_ssh(aws_app: SshApp, docker_host: str) -> None:
    deployed(aws_app)
    (host,) = aws_app.boot_all()
    volume = host.volume("data")
    written = write_data(volume)
    backup = aws_app.cli("backup", "-t", "aws")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    # after the backup: a file changed, one added, one removed
    (volume / "orders" / "1.json").write_text('{"id": 1, "total": 0}')
    (volume / "later.txt").write_text("written after the backup")
    (volume / "orders" / "2.json").unlink()
    restored = aws_app.cli("restore", "-t", "aws", "--from", backup.stdout.split()[1], "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "restored volumes: data" in restored.stdout
    assert checksums(volume) == written
    assert container_running(docker_host, f"vm-{aws_app.app}-web") is True  # started again
    seen = host.sh(f"docker exec vm-{aws_app.app}-web sh -c 'cd /data && find . -type f | sort | xargs sha256sum'")
    assert {line.split()[1][2:]: line.split()[0] for line in seen.splitlines()} == written
