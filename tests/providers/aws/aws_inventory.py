"""What exists on moto for an app, read with boto3: every resource type the aws provider creates."""
from __future__ import annotations

import base64
import gzip
from typing import Any

APP_TAG = "portable:app"


def tags(obj: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}


def instances(shop: Any, app: str = "shop", service: str | None = None, states: tuple[str, ...] = ("pending", "running", "stopping", "stopped")) -> list[dict[str, Any]]:
    filters = [{"Name": f"tag:{APP_TAG}", "Values": [app]}, {"Name": "instance-state-name", "Values": list(states)}]
    if service:
        filters.append({"Name": "tag:portable:service", "Values": [service]})
    found = shop.client("ec2").describe_instances(Filters=filters)
    return [i for r in found["Reservations"] for i in r["Instances"]]


def elbv2_tagged(shop: Any, app: str, arns: list[str]) -> list[str]:
    if not arns:
        return []
    out = []
    for i in range(0, len(arns), 20):
        for d in shop.client("elbv2").describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
            if tags(d).get(APP_TAG) == app:
                out.append(d["ResourceArn"])
    return out


def inventory(shop: Any, app: str = "shop") -> dict[str, list[str]]:
    """Every object tagged with the app, by type (empty lists when the app is gone)."""
    ec2, elb, r53 = shop.client("ec2"), shop.client("elbv2"), shop.client("route53")
    by_tag = [{"Name": f"tag:{APP_TAG}", "Values": [app]}]
    lbs = elbv2_tagged(shop, app, [b["LoadBalancerArn"] for b in elb.describe_load_balancers()["LoadBalancers"]])
    records = []
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    private_zones = []
    for zone in r53.list_hosted_zones()["HostedZones"]:
        zid = zone["Id"].rsplit("/", 1)[-1]
        zone_tags = {t["Key"]: t["Value"] for s in r53.list_tags_for_resources(ResourceType="hostedzone", ResourceIds=[zid])["ResourceTagSets"] for t in s.get("Tags", [])}
        if zone_tags.get(APP_TAG) == app and any(v["VPCId"] == vpc for v in r53.get_hosted_zone(Id=zid).get("VPCs", [])):
            private_zones.append(zid)
        for rec in r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]:
            values = " ".join(v["Value"] for v in rec.get("ResourceRecords", []))
            if f"app={app} " in values:
                records.append(rec["Name"])
            if rec["Type"] == "A" and "AliasTarget" in rec and rec["Name"] == f"www.{shop.zone}.":
                records.append(rec["Name"])
    return {
        "instances": [i["InstanceId"] for i in instances(shop, app)],
        "volumes": [v["VolumeId"] for v in ec2.describe_volumes(Filters=by_tag)["Volumes"]],
        "security_groups": [g["GroupId"] for g in ec2.describe_security_groups(Filters=by_tag)["SecurityGroups"]],
        "target_groups": elbv2_tagged(shop, app, [g["TargetGroupArn"] for g in elb.describe_target_groups()["TargetGroups"]]),
        "load_balancers": lbs,
        "listeners": [li["ListenerArn"] for arn in lbs for li in elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]],
        "dns_records": records,
        "private_zones": private_zones,
    }


def service_records(shop: Any, app: str = "shop") -> dict[str, set[str]]:
    """service -> addresses published in the app's private zone (in this region's default VPC)."""
    r53 = shop.client("route53")
    zones = inventory(shop, app)["private_zones"]
    assert len(zones) == 1, zones
    suffix = f".{app}.aws.portable.internal."
    return {
        r["Name"][: -len(suffix)]: {v["Value"] for v in r["ResourceRecords"]}
        for r in r53.list_resource_record_sets(HostedZoneId=zones[0])["ResourceRecordSets"]
        if r["Type"] == "A" and r["Name"].endswith(suffix)
    }


def user_data(shop: Any, instance_id: str) -> bytes:
    raw = shop.client("ec2").describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
    data = base64.b64decode(raw)
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
