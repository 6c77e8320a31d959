"""The aws provider passes the VM target contract on the lab's moto."""
from __future__ import annotations

import subprocess

import pytest

from aws_inventory import inventory, instances, tags
from aws_support import Shop
from vm_contract import VmTargetContract

pytestmark = pytest.mark.lab("moto")


class AwsCloud:
    target = "aws"
    replicas = {"web": 2, "api": 1, "worker": 1, "kv": 1}

    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.shop.cli(*args, **env)

    def running(self, service: str | None = None) -> dict[str, str]:
        return {i["InstanceId"]: tags(i)["portable:revision"] for i in instances(self.shop, service=service, states=("pending", "running"))}

    def volume_attachment(self, volume: str) -> str | None:
        found = self.shop.client("ec2").describe_volumes(Filters=[{"Name": "tag:portable:app", "Values": ["shop"]}, {"Name": "tag:portable:name", "Values": [volume]}])["Volumes"]
        attached = [a["InstanceId"] for v in found for a in v.get("Attachments", [])]
        return attached[0] if len(attached) == 1 else None

    def inventory(self) -> dict[str, list[str]]:
        return inventory(self.shop)


@pytest.fixture
def cloud(aws_shop: Shop) -> AwsCloud:
    return AwsCloud(aws_shop)


class TestAwsContract(VmTargetContract):
    pass
