"""Bad input on a libcloud target is refused while planning (issue 17): libcloud's EC2
driver on the lab's moto, one input wrong at a time (the registry password, the image, the
credentials file, the key pair); `portable deploy` exits 2 naming the field, and afterwards the region
holds no security group, volume or instance of the app.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from libcloud_support import LibcloudShop

pytestmark = pytest.mark.lab("moto")


@pytest.fixture
def shop(libcloud_shop: LibcloudShop) -> Iterator[LibcloudShop]:
    """examples/shop under a name of its own, so what is listed afterwards is only this test's."""
    name = f"pf{uuid.uuid4().hex[:8]}"
    text = libcloud_shop.manifest.read_text()
    assert "\n  name: shop\n" in text
    libcloud_shop.manifest.write_text(text.replace("\n  name: shop\n", f"\n  name: {name}\n", 1))
    libcloud_shop.app_name = name  # type: ignore[attr-defined]
    yield libcloud_shop


def change_target(shop: LibcloudShop, old: str, new: str) -> None:
    text = shop.manifest.read_text()
    head, sep, targets = text.partition("\ntargets:\n")
    assert old in targets
    shop.manifest.write_text(head + sep + targets.replace(old, new, 1))


def add_to_target(shop: LibcloudShop, line: str) -> None:
    shop.manifest.write_text(shop.manifest.read_text().rstrip("\n") + "\n    " + line + "\n")


def what_exists(shop: LibcloudShop) -> dict[str, list[str]]:
    app: str = shop.app_name  # type: ignore[attr-defined]
    ec2 = shop.client("ec2")
    found = {
        "security groups": [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"] if app in g["GroupName"]],
        "volumes": [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"] if any(app in t["Value"] for t in v.get("Tags", []))],
        "instances": [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                      if i["State"]["Name"] != "terminated" and any(app in t["Value"] for t in i.get("Tags", []))],
    }
    return {kind: items for kind, items in found.items() if items}


def refused(shop: LibcloudShop, field: str, *words: str) -> None:
    out = shop.cli("deploy", "--target", "cloud", "--yes")
    assert out.returncode == 2, out.stdout + out.stderr
    assert field in out.stderr and "portable.yaml:" in out.stderr, out.stderr
    for word in words:
        assert word in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert what_exists(shop) == {}


def test_registry_password_variable_not_set(shop: LibcloudShop) -> None:
    add_to_target(shop, "registry: {server: ghcr.io, username: ci, password_from: 'env:PF_UNSET_REGISTRY_PASSWORD'}")
    refused(shop, "targets.cloud.registry.password_from", "PF_UNSET_REGISTRY_PASSWORD")


def test_image_that_does_not_exist(shop: LibcloudShop) -> None:
    change_target(shop, "image: ami-1e749f67", "image: ami-0000000000deadbee")
    refused(shop, "targets.cloud.image", "ami-0000000000deadbee")


def test_credentials_file_missing(shop: LibcloudShop) -> None:
    add_to_target(shop, "credentials_file: no-such-credentials.json")
    refused(shop, "targets.cloud.credentials_file", "no-such-credentials.json")


def test_key_pair_that_does_not_exist(shop: LibcloudShop) -> None:
    add_to_target(shop, "key_name: pf-no-such-key")
    refused(shop, "targets.cloud.key_name", "pf-no-such-key")
