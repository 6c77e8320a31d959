"""Helpers of the aws provider tests: examples/shop with aws targets on the lab's moto."""
from __future__ import annotations

import os
import random
import uuid
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from vm_shop import lab_env, shop_with_target  # noqa: E402

# Each test takes a region (and a DNS zone) of its own on the shared moto, so concurrent runs
# (another engineer's suite, CI) never see each other's "shop".
REGIONS = ("ap-southeast-2", "eu-west-1", "eu-west-2", "eu-central-1", "us-west-2", "ap-northeast-1", "sa-east-1", "eu-north-1", "ap-south-1", "us-east-2")
MOTO_UBUNTU_AMI = "ami-1e749f67"  # one of moto's built-in images (an Ubuntu one)


@dataclass
class Shop:
    """examples/shop with aws targets on moto, and a way to run the real CLI on it."""

    manifest: Path
    state: Path
    env: dict[str, str]
    moto_url: str
    region: str
    zone: str
    clients: dict[str, Any] = field(default_factory=dict)

    def cli(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        state = [] if args[0] in ("render", "targets", "logs", "validate") else ["--state", str(self.state)]
        return subprocess.run(
            [sys.executable, "-m", "portable.cli.main", *args, "-f", str(self.manifest), *state],
            env={**self.env, **env}, capture_output=True, text=True, timeout=timeout,
        )

    def retarget(self, **settings: str) -> None:
        """Rewrites settings of target `aws` in the manifest (same target, same objects)."""
        head, _, _ = self.manifest.read_text().partition("\ntargets:\n")
        self.manifest.write_text(head + "\ntargets:\n" + aws_targets(self.moto_url, self.region, self.zone, **settings))

    def client(self, service: str) -> Any:
        import boto3

        if service not in self.clients:
            self.clients[service] = boto3.client(service, endpoint_url=self.moto_url, region_name=self.region, aws_access_key_id="testing", aws_secret_access_key="testing")
        return self.clients[service]


def aws_targets(moto_url: str, region: str, zone: str, **settings: str) -> str:
    """Target `aws` on moto; `settings` override (e.g. readiness=console: wait for the guest's
    READY line, which moto's made-up console output never prints)."""
    values = {"region": region, "endpoint_url": moto_url, "ami": MOTO_UBUNTU_AMI, "readiness": "instance",
              "domain": f"www.{zone}", "hosted_zone": zone, **settings}
    return "  aws:\n    provider: aws\n" + "".join(f"    {k}: {v}\n" for k, v in values.items())


@pytest.fixture
def aws_shop(tmp_path: Path, moto_url: str) -> Iterator[Shop]:
    region = random.choice(REGIONS)
    zone_name = f"{uuid.uuid4().hex[:8]}.shop.test"
    env = dict(os.environ, **lab_env(), AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=region)
    env.pop("AWS_PROFILE", None)
    shop = Shop(shop_with_target(tmp_path, aws_targets(moto_url, region, zone_name)), tmp_path / "state.db", env, moto_url, region, zone_name)
    zone = shop.client("route53").create_hosted_zone(Name=zone_name + ".", CallerReference=str(tmp_path))["HostedZone"]["Id"]
    yield shop
    shop.cli("destroy", "--target", "aws", "--yes", "--volumes")
    r53 = shop.client("route53")
    for rec in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]:
        if rec["Type"] not in ("SOA", "NS"):
            r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": rec}]})
    r53.delete_hosted_zone(Id=zone)
