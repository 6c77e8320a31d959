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


def _zone(r53, domain: str) -> str:
    return r53.create_hosted_zone(Name=domain + ".", CallerReference=domain)["HostedZone"]["Id"]


def test_a_load_balancer_gets_an_alias_record_even_at_the_apex(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apex names cannot be CNAMEs: a load balancer is pointed at with a Route 53 alias."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    lb = boto3.client("elbv2", region_name="us-east-1").create_load_balancer(Name=f"cut-{uuid.uuid4().hex[:8]}", Subnets=subnets)["LoadBalancers"][0]
    r53 = boto3.client("route53", region_name="us-east-1")
    domain = f"{uuid.uuid4().hex[:8]}.example.test"
    zone = _zone(r53, domain)
    lines: list[str] = []
    message = cut_over(Cutover(domain, zone), [f"http://{lb['DNSName']}:80"], lines.append)
    assert message == f"DNS {domain} A alias -> {lb['DNSName']}"
    apex = [r for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"] if r["Name"] == domain + "." and r["Type"] == "A"]
    assert len(apex) == 1 and apex[0]["AliasTarget"]["DNSName"].rstrip(".") == lb["DNSName"]


def test_an_apex_cname_is_refused_in_one_sentence(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from portable.errors import InputError

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    r53 = boto3.client("route53", region_name="us-east-1")
    domain = f"{uuid.uuid4().hex[:8]}.example.test"
    zone = _zone(r53, domain)
    with pytest.raises(InputError, match="is the apex of zone .* which cannot be a CNAME to shop.other.test"):
        cut_over(Cutover(domain, zone), ["https://shop.other.test/"], lambda m: None)
    assert [r["Type"] for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]] == ["NS", "SOA"]
