"""libcloud as a migration destination with data (issue 14): Docker -> libcloud's EC2 driver on
moto (through the test-only namespace proxy), archives in S3 (moto), and the node's real user
data, run in its lab host at the private address moto assigned (tests/providers/vm/instance_host.py),
restores them before the service starts. The test of docs/migration.md's libcloud "restore (as
migration destination)" cell; aws has the same one in tests/providers/aws/test_aws_ssh_source.py.

Without --plaintext-transit (issue 18) the node is fed over SSH: each node moto records is
booted as a lab host while the migration runs (test_libcloud_secrets_pushed.Booter), its
bootstrap waits with the data disk in place, and portable writes the archives it opened on
this machine into the volume; the user data names them by checksum only, no unsealed copy is
written to the blob store."""
from __future__ import annotations

import io
import random
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from ns_proxy import NamespaceProxy  # noqa: E402
from ssh_source import MOTO_UBUNTU_AMI, SshApp, checksums, container_running, fed_migration, new_app, ssh_yaml, target_yaml, write_data  # noqa: E402

pytestmark = [pytest.mark.lab("moto", "docker", "registry", "images", "dbimages"), pytest.mark.timeout(900)]

REGIONS = ("eu-west-2", "ap-south-1", "us-east-2")  # no other libcloud test's regions (aws_support lists them, for instances it never boots)


@pytest.fixture
def cloud_app(tmp_path: Path, moto_url: str, docker_host: str, ns_proxy: NamespaceProxy) -> Iterator[SshApp]:
    app = new_app(tmp_path, moto_url, docker_host, random.choice(REGIONS), "lcdst")
    app.target = "cloud"
    settings: dict[str, Any] = {
        "provider": "libcloud", "driver": "ec2", "region": app.region, "image": MOTO_UBUNTU_AMI, "readiness": "state",
        "driver_options": {"host": "127.0.0.1", "port": ns_proxy.port, "secure": False, "signature_version": "4"},
        "key_name": app.key_name, "ssh": ssh_yaml(app.key_file),
    }
    app.write(target_yaml("cloud", settings))
    yield app
    app.labs.close(app.app)
    app.cli("destroy", "-t", "cloud", "--yes", "--volumes")
    app.cli("destroy", "-t", "local", "--yes", "--volumes")
    app.ec2.delete_key_pair(KeyName=app.key_name)


def test_migrate_docker_to_libcloud_restores_the_data_at_first_boot_in_the_node(cloud_app: SshApp, docker_host: str, moto_url: str) -> None:
    """moto runs no guest, so the migration has finished (node `running`) before the lab host
    boots it and runs its user data: the order differs from a cloud's, the work does not."""
    cloud_app.env["AWS_ENDPOINT_URL"] = cloud_app.labs.gateway_endpoint(moto_url)  # the blob store's S3, reachable from the lab host
    done = cloud_app.cli("deploy", "-t", "local", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    written = write_data(cloud_app.dir / "seed")
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:
        tar.add(cloud_app.dir / "seed", arcname=".")
    filled = subprocess.run(["docker", "-H", docker_host, "run", "-i", "--rm", "-v", f"{cloud_app.app}_data:/v", "lab/busybox:1", "/bin/busybox", "tar", "-C", "/v", "-xf", "-"],
                            input=packed.getvalue(), capture_output=True, timeout=120)
    assert filled.returncode == 0, filled.stderr

    moved = cloud_app.cli("migrate", "--from", "local", "--to", "cloud", "--quiesce", "--yes", "--blob-store", f"s3://portable-archives/{cloud_app.app}",
                          "--plaintext-transit")  # first boot fetches an unsealed copy (docs/security.md)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"{cloud_app.app} now runs on cloud." in moved.stdout
    (host,) = cloud_app.boot_all()  # runs the node's user data: the restore step (wget from S3), then the service
    assert host.bootstrap is not None and "portable: volume data restored" in host.bootstrap.stdout, host.bootstrap
    assert host.bootstrap.stdout.count("portable: restoring data from") == 2  # base and final archives of the two-pass copy
    assert checksums(host.volume("data")) == written
    seen = subprocess.run(["docker", "-H", docker_host, "exec", f"vm-{cloud_app.app}-web", "sh", "-c", "cd /data && find . -type f ! -name '.portable*' | sort | xargs sha256sum"],
                          capture_output=True, text=True, timeout=60)
    assert {line.split()[1][2:]: line.split()[0] for line in seen.stdout.splitlines()} == written, seen.stderr
    assert container_running(docker_host, f"vm-{cloud_app.app}-web") is True
    ps = subprocess.run(["docker", "-H", docker_host, "ps", "-a", "--filter", f"label=io.portable.app={cloud_app.app}", "--format", "{{.Names}}"],
                        capture_output=True, text=True, timeout=60)
    assert ps.stdout.split() == []  # Docker retired



def test_migrate_docker_to_libcloud_feeds_the_sealed_archives_over_ssh(cloud_app: SshApp, docker_host: str, moto_url: str) -> None:
    fed_migration(cloud_app, docker_host, moto_url)
