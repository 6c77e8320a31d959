"""libcloud as a data source, through SSH to its nodes (issue 14, item 1): libcloud's EC2 driver
against moto (through the test-only namespace proxy), each node brought up as a real host of
the lab at the private address moto assigned (tests/providers/vm/instance_host.py)."""
from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from ns_proxy import NamespaceProxy  # noqa: E402
from ssh_source import (  # noqa: E402
    MOTO_UBUNTU_AMI, SshApp, archive_checksums, backup_archives, checksums, container_running, deployed, new_app,
    refused_before_anything_changes, secrets_absent, service_sees, ssh_yaml, target_yaml, write_data,
)

pytestmark = [pytest.mark.lab("moto", "docker", "registry", "images", "dbimages"), pytest.mark.timeout(900)]

REGIONS = ("af-south-1", "ap-east-1", "ap-northeast-3")  # regions libcloud knows that no other test takes


def cloud_settings(app: SshApp, proxy: NamespaceProxy, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "provider": "libcloud", "driver": "ec2", "region": app.region, "image": MOTO_UBUNTU_AMI, "readiness": "state",
        "driver_options": {"host": "127.0.0.1", "port": proxy.port, "secure": False, "signature_version": "4"},
        "key_name": app.key_name, "ssh": ssh_yaml(app.key_file),
    }
    settings.update(overrides)
    return {k: v for k, v in settings.items() if v is not None}


@pytest.fixture
def cloud_app(tmp_path: Path, moto_url: str, docker_host: str, ns_proxy: NamespaceProxy) -> Iterator[SshApp]:
    app = new_app(tmp_path, moto_url, docker_host, random.choice(REGIONS), "lc")
    app.target = "cloud"
    app.write(target_yaml("cloud", cloud_settings(app, ns_proxy)))
    yield app
    app.labs.close(app.app)
    app.cli("destroy", "-t", "cloud", "--yes", "--volumes")
    app.cli("destroy", "-t", "local", "--yes", "--volumes")
    app.ec2.delete_key_pair(KeyName=app.key_name)


def test_backup_over_ssh_holds_exactly_the_files_on_the_node(cloud_app: SshApp) -> None:
    deployed(cloud_app)
    (host,) = cloud_app.boot_all()
    written = write_data(host.volume("data"))
    backup = cloud_app.cli("backup", "-t", "cloud")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (archive,) = backup_archives(cloud_app.dir, cloud_app.app, backup.stdout.split()[1])
    assert archive_checksums(archive) == written
    assert host.instance_id in (cloud_app.dir / ".portable" / "known_hosts").read_text()


def test_migrate_libcloud_to_docker_with_quiesce_moves_the_data_and_destroys_the_node(cloud_app: SshApp, docker_host: str) -> None:
    (iid,) = deployed(cloud_app)
    (host,) = cloud_app.boot_all()
    written = write_data(host.volume("data"))
    moved = cloud_app.cli("migrate", "--from", "cloud", "--to", "local", "--quiesce", "--yes")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"{cloud_app.app} now runs on local." in moved.stdout
    journal = json.loads(next((cloud_app.dir / ".portable" / "migrations").glob("*.json")).read_text())
    assert journal["steps"]["quiesce"]["output"]["stopped"] == [f"vm-{cloud_app.app}-web on {iid}"]
    assert service_sees(docker_host, cloud_app.app, "/data") == written
    assert cloud_app.instance_states([iid])[iid] in ("shutting-down", "terminated")
    assert container_running(docker_host, f"vm-{cloud_app.app}-web") is False
    journal_text = json.dumps(journal)
    state = (cloud_app.dir / "state.db").read_bytes().decode("latin-1")
    secrets_absent(cloud_app.key_file, moved.stdout, moved.stderr, journal_text, state)


def test_without_a_key_pair_the_source_is_refused_naming_key_name(cloud_app: SshApp, ns_proxy: NamespaceProxy, docker_host: str) -> None:
    cloud_app.write(target_yaml("cloud", cloud_settings(cloud_app, ns_proxy, key_name=None, ssh=None)))
    (iid,) = deployed(cloud_app)
    for err in refused_before_anything_changes(cloud_app, docker_host, iid, None):
        assert "without SSH to its nodes" in err and "`key_name`" in err and "`ssh`" in err, err


def test_an_unreachable_node_is_refused_at_plan_time_naming_ssh_address(cloud_app: SshApp, docker_host: str) -> None:
    (iid,) = deployed(cloud_app)  # no lab host at its address
    for err in refused_before_anything_changes(cloud_app, docker_host, iid, None):
        assert f"cannot reach instance {iid} of service web" in err and "`ssh.address` on target cloud" in err, err


def test_a_changed_host_key_is_refused_at_plan_time(cloud_app: SshApp, docker_host: str) -> None:
    (iid,) = deployed(cloud_app)
    (host,) = cloud_app.boot_all()
    written = write_data(host.volume("data"))
    assert cloud_app.cli("backup", "-t", "cloud").returncode == 0
    cloud_app.labs.remove(iid, cloud_app.app)
    cloud_app.hosts = []
    (again,) = cloud_app.boot_all()
    for err in refused_before_anything_changes(cloud_app, docker_host, iid, again):
        assert f"the SSH host key of instance {iid}" in err and "refusing to connect" in err, err
    assert checksums(again.volume("data")) == written


def test_restore_puts_a_backup_back_into_the_running_node_over_ssh(cloud_app: SshApp, docker_host: str) -> None:
    deployed(cloud_app)
    (host,) = cloud_app.boot_all()
    volume = host.volume("data")
    written = write_data(volume)
    backup = cloud_app.cli("backup", "-t", "cloud")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (volume / "blob.bin").write_bytes(b"overwritten")
    (volume / "later.txt").write_text("after the backup")
    restored = cloud_app.cli("restore", "-t", "cloud", "--from", backup.stdout.split()[1], "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert checksums(volume) == written
    assert container_running(docker_host, f"vm-{cloud_app.app}-web") is True
