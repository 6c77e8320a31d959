"""The migration's cutover switches a real DNS record: Route 53 as served by the lab's moto."""
from __future__ import annotations

import uuid

import boto3
import pytest

from portable.migrate.cutover import Cutover, cut_over

pytestmark = pytest.mark.lab("moto")


def test_cutover_upserts_the_record_to_the_destination(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    r53 = boto3.client("route53", region_name="us-east-1")
    domain = f"{uuid.uuid4().hex[:8]}.example.test"
    zone = r53.create_hosted_zone(Name=domain + ".", CallerReference=domain)["HostedZone"]["Id"]
    lines: list[str] = []
    cut = Cutover(f"shop.{domain}", zone)
    assert cut_over(cut, ["http://127.0.0.1:18080"], lines.append) == f"DNS shop.{domain} A -> 127.0.0.1 (ttl 60s)"
    cut_over(cut, ["https://shop-lb-123.eu-west-1.elb.amazonaws.com/"], lines.append)  # moved again: now a name
    mine = [r for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"] if r["Name"].rstrip(".") == f"shop.{domain}"]
    assert [(r["Type"], [v["Value"] for v in r["ResourceRecords"]]) for r in mine] == [("CNAME", ["shop-lb-123.eu-west-1.elb.amazonaws.com"])]
    assert lines[0].startswith("DNS shop.")


def test_without_dns_the_manual_step_is_named() -> None:
    lines: list[str] = []
    message = cut_over(None, ["http://127.0.0.1:8080"], lines.append)
    assert message == "no DNS configured: point your users (or your DNS record) at http://127.0.0.1:8080"
