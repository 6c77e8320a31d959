"""The leak scanner on libcloud (EC2 driver on moto): the shop's secret stays out of the
CLI's output, the state, a saved plan, the rendered files and the nodes' tags and names.
Not scanned: the nodes' user data, which on libcloud still carries the value (moving it to
an SSH push after boot is not done yet; docs/security.md says so)."""
from __future__ import annotations

from typing import Any

import pytest

from libcloud_support import LibcloudShop

pytestmark = pytest.mark.lab("moto")


def test_libcloud_secret_stays_out_of_output_state_plans_and_tags(libcloud_shop: LibcloudShop, leak_secrets: Any, tmp_path: Any) -> None:
    shop = libcloud_shop
    shop.env["SHOP_API_TOKEN"] = leak_secrets.value("SHOP_API_TOKEN")
    leak_secrets.watch(shop.state, tmp_path / "plan.json", tmp_path / "rendered")
    ec2 = shop.client("ec2")

    def nodes() -> list[Any]:
        found = ec2.describe_instances(Filters=[{"Name": "tag:portable:app", "Values": ["shop"]}])["Reservations"]
        return [{"Tags": i.get("Tags"), "KeyName": i.get("KeyName"), "InstanceId": i["InstanceId"]} for r in found for i in r["Instances"]]

    leak_secrets.probe("libcloud nodes' tags on moto", nodes)

    def cli(*args: str) -> Any:
        done = shop.cli(*args)
        leak_secrets.record(f"portable {' '.join(args)}", done.stdout + done.stderr)
        return done

    assert cli("render", "--target", "cloud", "-o", str(tmp_path / "rendered")).returncode == 0
    assert cli("plan", "--target", "cloud", "--out", str(tmp_path / "plan.json")).returncode == 0
    done = cli("deploy", "--target", "cloud", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert nodes()
    assert leak_secrets.scan() == []
