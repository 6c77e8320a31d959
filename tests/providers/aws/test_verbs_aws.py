"""`portable scale` and `portable restart` on the aws target (moto): the normal plan/apply
path, so a scale adds instances behind the load balancer and a restart replaces the
service's instances blue/green; `exec` is refused there (no SSH set up) in one sentence before moto is asked.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from aws_inventory import instances
from aws_support import Shop
from json_schemas import validate

pytestmark = [pytest.mark.lab("moto"), pytest.mark.timeout(600)]


def _web(shop: Shop) -> set[str]:
    return {i["InstanceId"] for i in instances(shop, app="verbs-shop", service="web", states=("pending", "running"))}


def test_scale_and_restart_on_aws(aws_shop: Shop) -> None:
    shop = aws_shop
    shop.manifest.write_text(shop.manifest.read_text().replace("\n  name: shop\n", "\n  name: verbs-shop\n", 1))
    assert "name: verbs-shop" in shop.manifest.read_text()
    deployed = shop.cli("deploy", "--target", "aws", "--yes", "--quiet")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    first = _web(shop)

    scaled = shop.cli("scale", "web=3", "--target", "aws", "-o", "json")
    assert scaled.returncode == 0, scaled.stderr
    assert validate("revision", json.loads(scaled.stdout))["kind"] == "scale"
    now = _web(shop)
    assert first < now and len(now) == 3  # the running instances stay, more join
    plan = validate("plan", json.loads(shop.cli("plan", "--target", "aws", "-o", "json").stdout))
    assert any(w.startswith("web replicas 3 (scaled by `portable scale`") for w in plan["warnings"])

    restarted = shop.cli("restart", "web", "--target", "aws", "-o", "json")
    assert restarted.returncode == 0, restarted.stderr
    assert validate("revision", json.loads(restarted.stdout))["kind"] == "restart"
    after = _web(shop)
    assert len(after) == 3 and not after & now  # every web instance replaced

    refused = subprocess.run([sys.executable, "-m", "portable.cli.main", "exec", "web", "--target", "aws", "-f", str(shop.manifest), "--", "true"],
                             env=shop.env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "target `aws` (aws) cannot run a command inside a service's replica without SSH" in refused.stderr and "`key_name` and `ssh`" in refused.stderr
