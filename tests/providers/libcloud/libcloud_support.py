"""Helpers and fixtures of the libcloud provider tests: libcloud's EC2 driver against the lab's moto,
through the test-only namespace proxy (ns_proxy.py), with examples/shop as the app."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from ns_proxy import NamespaceProxy  # noqa: E402
from vm_shop import lab_env, shop_with_target  # noqa: E402

# Each test takes a region of its own on the shared moto (none of the aws tests' regions).
REGIONS = ("ca-central-1", "eu-west-3", "ap-northeast-2", "us-west-1", "ap-southeast-1", "eu-south-1")
MOTO_UBUNTU_AMI = "ami-1e749f67"


@dataclass
class LibcloudShop:
    manifest: Path
    state: Path
    env: dict[str, str]
    moto_url: str
    region: str
    clients: dict[str, Any] = field(default_factory=dict)

    def cli(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        state = [] if args[0] in ("render", "targets", "validate") else ["--state", str(self.state)]
        return subprocess.run(
            [sys.executable, "-m", "portable.cli.main", *args, "-f", str(self.manifest), *state],
            env={**self.env, **env}, capture_output=True, text=True, timeout=timeout,
        )

    def client(self, service: str) -> Any:
        import boto3

        if service not in self.clients:
            self.clients[service] = boto3.client(service, endpoint_url=self.moto_url, region_name=self.region, aws_access_key_id="testing", aws_secret_access_key="testing")
        return self.clients[service]


def libcloud_target(port: int, region: str, extra: str = "") -> str:
    return (
        "  cloud:\n    provider: libcloud\n    driver: ec2\n"
        f"    region: {region}\n    image: {MOTO_UBUNTU_AMI}\n"
        # moto runs no guest: the node state is all there is (a probe would hit moto's made-up public IPs)
        "    readiness: state\n"
        # nor an SSH server to push secrets to: examples/shop's ride in the user data, as the target accepts
        "    allow_secrets_in_metadata: true\n"
        f"    driver_options: {{host: 127.0.0.1, port: {port}, secure: false, signature_version: '4'}}\n" + extra
    )


@pytest.fixture
def ns_proxy(moto_url: str) -> Iterator[NamespaceProxy]:
    with NamespaceProxy(moto_url) as proxy:
        yield proxy


@pytest.fixture
def libcloud_shop(tmp_path: Path, moto_url: str, ns_proxy: NamespaceProxy) -> Iterator[LibcloudShop]:
    env = dict(os.environ, **lab_env(), AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    # no load balancer through a compute driver: one web replica (see test_capabilities_*)
    env["SHOP_WEB_REPLICAS"] = "1"
    for name in ("LIBCLOUD_KEY", "LIBCLOUD_SECRET"):
        env.pop(name, None)
    region = random.choice(REGIONS)
    shop = LibcloudShop(shop_with_target(tmp_path, libcloud_target(ns_proxy.port, region)), tmp_path / "state.db", env, moto_url, region)
    yield shop
    shop.cli("destroy", "--target", "cloud", "--yes", "--volumes")
