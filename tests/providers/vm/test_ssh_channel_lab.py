"""providers/vm/ssh.py against real SSH servers of the lab: moto instances brought up as lab
hosts (instance_host.py). moto's GetConsoleOutput is a fixed sample without host keys, so the
console path is proven with what the lab host itself printed at boot (cloud-init's block, as a
real EC2 console shows it), and `ssh.bastion` with a second lab host as the jump host."""
from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from instance_host import InstanceHost, LabInstances  # noqa: E402

from portable.errors import InputError  # noqa: E402
from portable.providers.vm.ssh import Host, SshChannel, console_host_keys  # noqa: E402
from portable.providers.vm.ssh_settings import SshSettings  # noqa: E402

pytestmark = [pytest.mark.lab("moto", "docker", "dbimages"), pytest.mark.timeout(300)]

REGION = "ap-northeast-3"


@pytest.fixture
def lab_hosts(tmp_path: Path, moto_url: str, docker_host: str) -> Iterator[tuple[LabInstances, list[InstanceHost], Path]]:
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    name = f"channel-{time.time_ns()}-{random.randrange(1000)}"
    pair = ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    key = tmp_path / "id"
    key.write_text(pair["KeyMaterial"])
    key.chmod(0o600)
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId="ami-1e749f67", MinCount=2, MaxCount=2, KeyName=name, SubnetId=subnet)["Instances"]]
    labs = LabInstances(docker_host, ec2, tmp_path / "instances")
    try:
        yield labs, [labs.start(i, run_user_data=False) for i in ids], key
    finally:
        labs.close()
        ec2.terminate_instances(InstanceIds=ids)
        ec2.delete_key_pair(KeyName=name)


def host_of(lab: InstanceHost, console: InstanceHost | None) -> Host:
    return Host(lab.instance_id, "web", 0, None, lab.address, console=console.console if console else None)


def test_host_keys_printed_on_the_console_are_required(lab_hosts: tuple[LabInstances, list[InstanceHost], Path], tmp_path: Path) -> None:
    _labs, (one, two), key = lab_hosts
    assert len(console_host_keys(one.console())) >= 2  # the block the lab host printed at boot (rsa, ecdsa, ed25519)
    channel = SshChannel("aws", SshSettings(address="private", user="root", key_file=str(key)), "k", tmp_path)
    with channel.connect(host_of(one, one)) as transport:
        code, out, _ = channel.run(transport, "hostname", "hostname")
    assert (code, out.strip()) == (0, one.instance_id)
    assert not (tmp_path / ".portable" / "known_hosts").exists()  # nothing trusted on first use: the console said
    # the console of another machine (a fresh channel: one command reads a console once): its keys are not this server's
    other = SshChannel("aws", SshSettings(address="private", user="root", key_file=str(key)), "k", tmp_path)
    with pytest.raises(InputError, match="not one of the host keys its console output printed"):
        with other.connect(host_of(one, two)):
            pass


def test_a_bastion_relays_the_connection_and_its_key_is_kept(lab_hosts: tuple[LabInstances, list[InstanceHost], Path], tmp_path: Path) -> None:
    _labs, (one, jump), key = lab_hosts
    settings = SshSettings(address="private", user="root", key_file=str(key), bastion=f"root@{jump.address}")
    channel = SshChannel("aws", settings, "k", tmp_path)
    with channel.connect(host_of(one, None)) as transport:
        code, out, _ = channel.run(transport, "hostname", "hostname")
    assert (code, out.strip()) == (0, one.instance_id)
    known = (tmp_path / ".portable" / "known_hosts").read_text()
    assert f"[{jump.address}]:22" in known and one.instance_id in known  # both trusted on first use
    # a fresh channel checks both against what was recorded
    again = SshChannel("aws", settings, "k", tmp_path)
    with again.connect(host_of(one, None)) as transport:
        assert again.run(transport, "true", "true")[0] == 0


def test_losing_the_channel_after_planning_is_a_failed_operation_not_bad_input(tmp_path: Path, docker_host: str) -> None:
    """The plan-time check names the setting with exit 2; once planned, the same loss during the
    copy is exit 1 (the migration resumes when rerun), with the same sentence."""
    from instance_host import ensure_lab_vpc

    from portable.errors import TargetError
    from portable.manifest import load_app
    from portable.providers.vm.ssh_data import SshData

    ensure_lab_vpc(docker_host)  # 172.31.0.0/16 is routed to the lab bridge, where nothing holds .255.200
    (tmp_path / "portable.yaml").write_text(
        "apiVersion: portable/v1\nkind: Application\nmetadata: {name: gone}\n"
        "services:\n  web:\n    image: lab/web:1\n    volumes: [{volume: data, path: /data}]\nvolumes:\n  data: {}\n")
    app = load_app(tmp_path / "portable.yaml", "local", env={})
    data = SshData(SshChannel("aws", SshSettings(address="private", user="root", connect_timeout=3), "k", tmp_path))
    gone = [Host("i-gone", "web", 0, None, "172.31.255.200")]
    with pytest.raises(InputError, match="cannot reach instance i-gone of service web") as planned:
        data.check(app, ["data"], gone, quiesce=True)
    assert planned.value.exit_code == 2
    chunks, _ = data.export(app, "data", gone)
    with pytest.raises(TargetError, match="cannot reach instance i-gone of service web") as copying:
        next(iter(chunks))
    assert copying.value.exit_code == 1 and not isinstance(copying.value, InputError)
    with pytest.raises(TargetError, match="cannot reach instance i-gone") as stopping:
        data.quiesce(app, gone)
    assert stopping.value.exit_code == 1
