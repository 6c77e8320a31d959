"""`portable scale` and `portable restart` on the libcloud target (EC2 driver on moto): a scale
starts more nodes for the service, a restart replaces its nodes; `exec` (SSH not set up there) is refused in one
sentence before the cloud is asked.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from json_schemas import validate
from libcloud_support import LibcloudShop

pytestmark = [pytest.mark.lab("moto"), pytest.mark.timeout(600)]


def _workers(shop: LibcloudShop) -> set[str]:
    filters = [{"Name": "tag:portable:app", "Values": ["verbs-shop"]}, {"Name": "tag:portable:service", "Values": ["worker"]},
               {"Name": "instance-state-name", "Values": ["pending", "running"]}]
    return {i["InstanceId"] for r in shop.client("ec2").describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]}


def test_scale_and_restart_on_libcloud(libcloud_shop: LibcloudShop) -> None:
    shop = libcloud_shop
    shop.manifest.write_text(shop.manifest.read_text().replace("\n  name: shop\n", "\n  name: verbs-shop\n", 1))
    assert "name: verbs-shop" in shop.manifest.read_text()
    deployed = shop.cli("deploy", "--target", "cloud", "--yes", "--quiet")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    first = _workers(shop)
    assert len(first) == 1

    scaled = shop.cli("scale", "worker=3", "--target", "cloud", "-o", "json")
    assert scaled.returncode == 0, scaled.stderr
    assert validate("revision", json.loads(scaled.stdout))["kind"] == "scale"
    now = _workers(shop)
    assert first < now and len(now) == 3

    restarted = shop.cli("restart", "worker", "--target", "cloud", "-o", "json")
    assert restarted.returncode == 0, restarted.stderr
    assert validate("revision", json.loads(restarted.stdout))["kind"] == "restart"
    after = _workers(shop)
    assert len(after) == 3 and not after & now  # every worker node replaced

    refused = subprocess.run([sys.executable, "-m", "portable.cli.main", "exec", "worker", "--target", "cloud", "-f", str(shop.manifest), "--", "true"],
                             env=shop.env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "target `cloud` (libcloud) cannot run a command inside a service's replica without SSH" in refused.stderr and "`key_name` and `ssh`" in refused.stderr, refused.stderr
