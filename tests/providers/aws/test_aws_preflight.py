"""Bad input on an aws target is refused while planning, before the first create (issue 17).

Each case runs the real CLI against the lab's moto with one input wrong (the registry
password's variable or file, the image, the key pair, the hosted zone), expects exit 2
with the field path in one sentence, then lists the region for anything tagged or named
for the app: security groups, load balancers, target groups, volumes, instances, private
zones. Before the preflight check, each of these deploys created most of them first.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from aws_inventory import inventory
from aws_support import Shop, aws_targets

pytestmark = pytest.mark.lab("moto")


@pytest.fixture
def shop(aws_shop: Shop) -> Iterator[Shop]:
    """examples/shop under a name of its own, so what is listed afterwards is only this test's."""
    name = f"pf{uuid.uuid4().hex[:8]}"
    text = aws_shop.manifest.read_text()
    assert "\n  name: shop\n" in text
    aws_shop.manifest.write_text(text.replace("\n  name: shop\n", f"\n  name: {name}\n", 1))
    aws_shop.app_name = name  # type: ignore[attr-defined]
    yield aws_shop


def set_target(shop: Shop, drop: tuple[str, ...] = (), **settings: str) -> None:
    """Target `aws` with `settings` changed and the keys in `drop` left out."""
    head, _, _ = shop.manifest.read_text().partition("\ntargets:\n")
    lines = aws_targets(shop.moto_url, shop.region, shop.zone, **settings).splitlines(keepends=True)
    kept = [line for line in lines if line.split(":", 1)[0].strip() not in drop]
    shop.manifest.write_text(head + "\ntargets:\n" + "".join(kept))


def what_exists(shop: Shop) -> dict[str, list[str]]:
    """Everything in the test's region tagged for the app (aws_inventory.py), the empty kinds left out."""
    return {kind: items for kind, items in inventory(shop, shop.app_name).items() if items}  # type: ignore[attr-defined]


def refused(shop: Shop, field: str, *words: str, **env: str) -> Any:
    """Runs deploy; asserts exit 2, one sentence naming `field` and `words`, nothing created."""
    out = shop.cli("deploy", "--target", "aws", "--yes", **env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert field in out.stderr, out.stderr
    for word in words:
        assert word in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert what_exists(shop) == {}
    return out


def test_registry_password_variable_not_set(shop: Shop) -> None:
    set_target(shop, registry="{server: ghcr.io, username: ci, password_from: 'env:PF_UNSET_REGISTRY_PASSWORD'}")
    refused(shop, "targets.aws.registry.password_from", "PF_UNSET_REGISTRY_PASSWORD")


def test_registry_password_file_missing(shop: Shop) -> None:
    set_target(shop, registry="{server: ghcr.io, username: ci, password_from: 'file:no-such-password.txt'}")
    refused(shop, "targets.aws.registry.password_from", "no-such-password.txt")


def test_registry_password_is_never_printed(shop: Shop) -> None:
    """The check reads the value, and a set variable passes it: the failure is the next input (the image)."""
    set_target(shop, registry="{server: ghcr.io, username: ci, password_from: 'env:PF_REGISTRY_PASSWORD'}", ami="ami-0000000000deadbee")
    out = refused(shop, "targets.aws.ami", "ami-0000000000deadbee", PF_REGISTRY_PASSWORD="pf-very-secret-value")
    assert "pf-very-secret-value" not in out.stdout + out.stderr


def test_image_that_does_not_exist(shop: Shop) -> None:
    set_target(shop, ami="ami-0000000000deadbee")
    refused(shop, "targets.aws.ami", "ami-0000000000deadbee")


def test_default_image_parameter_missing(shop: Shop) -> None:
    """Without `ami` the image id is read from Canonical's public SSM parameter, which moto lacks."""
    set_target(shop, drop=("ami",))
    refused(shop, "targets.aws.ami", "/aws/service/canonical/ubuntu")


def test_key_pair_that_does_not_exist(shop: Shop) -> None:
    set_target(shop, key_name="pf-no-such-key")
    refused(shop, "targets.aws.key_name", "pf-no-such-key")


def test_hosted_zone_that_does_not_exist(shop: Shop) -> None:
    set_target(shop, hosted_zone="pf-no-such-zone.test", domain="www.pf-no-such-zone.test")
    refused(shop, "targets.aws.hosted_zone", "pf-no-such-zone.test")
