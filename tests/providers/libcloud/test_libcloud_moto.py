"""The libcloud provider through libcloud's EC2 driver against the lab's moto: the VM target
contract where its capabilities allow, what it declares it cannot do, and credentials."""
from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from libcloud_support import LibcloudShop, libcloud_target
from vm_contract import VmTargetContract, ok
from vm_shop import shop_with_target

pytestmark = pytest.mark.lab("moto")


def tags(obj: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}


class LibcloudCloud:
    target = "cloud"
    replicas = {"web": 1, "api": 1, "worker": 1, "kv": 1}

    def __init__(self, shop: LibcloudShop) -> None:
        self.shop = shop
        self.ec2 = shop.client("ec2")

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.shop.cli(*args, **env)

    def _instances(self, service: str | None = None) -> list[dict[str, Any]]:
        filters = [{"Name": "tag:portable:app", "Values": ["shop"]}, {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        if service:
            filters.append({"Name": "tag:portable:service", "Values": [service]})
        return [i for r in self.ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]

    def running(self, service: str | None = None) -> dict[str, str]:
        return {i["InstanceId"]: tags(i)["portable:revision"] for i in self._instances(service)}

    def volume_attachment(self, volume: str) -> str | None:
        found = self.ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": [f"pt--shop--cloud--{volume}"]}])["Volumes"]
        attached = [a["InstanceId"] for v in found for a in v.get("Attachments", [])]
        return attached[0] if len(attached) == 1 else None

    def inventory(self) -> dict[str, list[str]]:
        """Everything the libcloud provider creates on EC2: instances, volumes, the security group."""
        named = [{"Name": "tag:Name", "Values": ["pt--shop--*"]}]
        live = [i for r in self.ec2.describe_instances(Filters=named)["Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"]
        return {
            "instances": [i["InstanceId"] for i in live],
            "volumes": [v["VolumeId"] for v in self.ec2.describe_volumes(Filters=named)["Volumes"]],
            "security_groups": [g["GroupId"] for g in self.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["pt--shop--cloud"]}])["SecurityGroups"]],
        }


@pytest.fixture
def cloud(libcloud_shop: LibcloudShop) -> LibcloudCloud:
    return LibcloudCloud(libcloud_shop)


class TestLibcloudContract(VmTargetContract):
    pass


def test_instances_firewall_and_names_on_ec2(cloud: LibcloudCloud) -> None:
    ok(cloud.cli("deploy", "--target", "cloud", "--yes"))
    web = cloud._instances("web")
    assert len(web) == 1 and tags(web[0])["Name"].startswith("pt--shop--cloud--web--0--")
    # IMDSv2 is required even though libcloud cannot say so at launch
    assert {i["MetadataOptions"]["HttpTokens"] for i in cloud._instances()} == {"required"}
    group = cloud.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["pt--shop--cloud"]}])["SecurityGroups"][0]
    rules = set()
    for perm in group["IpPermissions"]:
        rules |= {(perm["FromPort"], r["CidrIp"]) for r in perm.get("IpRanges", [])}
        rules |= {(perm["FromPort"], "self") for p in perm.get("UserIdGroupPairs", []) if p["GroupId"] == group["GroupId"]}
    # no load balancer: web's public port 8000 is opened on the instance; api and kv stay internal
    assert rules == {(8000, "0.0.0.0/0"), (8080, "self")}
    assert all(group["GroupId"] in {g["GroupId"] for g in i["SecurityGroups"]} for i in cloud._instances())
    status = cloud.cli("status", "--target", "cloud")
    assert status.returncode == 0 and ":8000" in status.stdout


def test_capabilities_are_reported_at_plan_time_with_the_field(libcloud_shop: LibcloudShop) -> None:
    """Two public web replicas need a load balancer, which no compute driver declares."""
    done = libcloud_shop.cli("plan", "--target", "cloud", SHOP_WEB_REPLICAS="2")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "services.web.replicas: target `cloud` (libcloud) cannot provide load balancer" in done.stderr
    assert libcloud_shop.client("ec2").describe_instances(Filters=[{"Name": "tag:Name", "Values": ["pt--shop--*"]}, {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"] == []


def test_credentials_come_from_the_environment_or_a_file_never_the_manifest(libcloud_shop: LibcloudShop, ns_proxy: Any, tmp_path: Any) -> None:
    shop = libcloud_shop
    bare = {k: v for k, v in shop.env.items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET"))}
    missing = subprocess.run([*_cli(shop), "plan", "--target", "cloud", "-f", str(shop.manifest), "--state", str(shop.state)], env=bare, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1
    assert "no credentials for the libcloud `ec2` driver" in missing.stderr and "credentials_file" in missing.stderr

    port = ns_proxy.port
    (tmp_path / "creds.json").write_text('{"key": "testing", "secret": "testing"}')
    with_file = shop_with_target(tmp_path / "file", libcloud_target(port, shop.region, f"    credentials_file: {tmp_path / 'creds.json'}\n"))
    planned = subprocess.run([*_cli(shop), "plan", "--target", "cloud", "-f", str(with_file), "--state", str(tmp_path / "s.db")], env=bare, capture_output=True, text=True, timeout=120)
    assert planned.returncode == 0, planned.stderr
    assert "instance-group/web" in planned.stdout

    inline = shop_with_target(tmp_path / "inline", libcloud_target(port, shop.region).replace("signature_version: '4'", "signature_version: '4', secret: testing"))
    refused = subprocess.run([*_cli(shop), "validate", "-f", str(inline)], env=bare, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "credentials never go in the manifest" in refused.stderr


def _cli(shop: LibcloudShop) -> list[str]:
    return [sys.executable, "-m", "portable.cli.main"]
