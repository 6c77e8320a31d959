"""`portable gc` on AWS: every EC2 instance, security group and EBS volume and every ALB and
target group tagged `portable:app`, whatever app the tag names, and their deletion by id.

The tags written at creation (tags.py) carry the app, the target, the resource kind and name
and the service, so the core tells a renamed app's or a removed service's objects from the
current ones. Root disks go with their instance and are not listed; Route 53 records and
Cloud Map namespaces are not listed either (docs/gc.md).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any


from portable.engine import cancel
from portable.errors import TargetError
from portable.manifest.app import App
from portable.providers.aws import tags as T
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.errors import call, delete_until_free
from portable.providers.base import ApplyContext, OwnedObject

# instances first (they hold volumes and security groups, and sit in target groups), then
# the load balancer, its target groups, the volumes, the security groups
ORDER = {"instance": 0, "load-balancer": 1, "target-group": 2, "volume": 3, "security-group": 4}
LIVE = ["pending", "running", "stopping", "stopped"]
TAGGED = [{"Name": "tag-key", "Values": [T.APP]}]


def _owned(kind: str, name: str, tags: dict[str, str], created: datetime | None, ref: dict[str, str], *, stateful: bool = False) -> OwnedObject:
    resource_kind, resource_name = tags.get(T.KIND), tags.get(T.NAME)
    return OwnedObject(
        kind=kind, name=name, app=tags.get(T.APP, ""),
        resource=f"{resource_kind}/{resource_name}" if resource_kind and resource_name else None,
        service=tags.get(T.SERVICE) or None, target=tags.get(T.TARGET) or None, created=created, stateful=stateful,
        labels={k: v for k, v in tags.items() if k.startswith("portable:")}, ref=ref, order=ORDER[kind],
    )


def _elb_tags(clients: AwsClients, arns: list[str]) -> Iterator[tuple[str, dict[str, str]]]:
    for i in range(0, len(arns), 20):
        found = call(clients.elbv2.describe_tags, ResourceArns=arns[i : i + 20], action="read the tags of", what="load balancing objects")
        for d in found["TagDescriptions"]:
            yield d["ResourceArn"], T.tag_dict(d.get("Tags"))


def list_owned(clients: AwsClients) -> list[OwnedObject]:
    """Everything in the region tagged by portable, for any app and target."""
    ec2, out = clients.ec2, []
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[*TAGGED, {"Name": "instance-state-name", "Values": LIVE}])
    for page in call(list, pages, action="list", what="instances"):
        for r in page["Reservations"]:
            for i in r["Instances"]:
                out.append(_owned("instance", i["InstanceId"], T.tag_dict(i.get("Tags")), i.get("LaunchTime"), {"id": i["InstanceId"]}))
    for g in call(ec2.describe_security_groups, Filters=TAGGED, action="list", what="security groups")["SecurityGroups"]:
        out.append(_owned("security-group", g["GroupName"], T.tag_dict(g.get("Tags")), None, {"id": g["GroupId"]}))
    for v in call(ec2.describe_volumes, Filters=TAGGED, action="list", what="volumes")["Volumes"]:
        tags = T.tag_dict(v.get("Tags"))
        if tags.get(T.KIND) == "root-disk":
            continue  # goes with its instance
        out.append(_owned("volume", v["VolumeId"], tags, v.get("CreateTime"), {"id": v["VolumeId"]}, stateful=True))
    lbs = {lb["LoadBalancerArn"]: lb for lb in call(clients.elbv2.describe_load_balancers, action="list", what="load balancers")["LoadBalancers"]}
    tgs = {tg["TargetGroupArn"]: tg for tg in call(clients.elbv2.describe_target_groups, action="list", what="target groups")["TargetGroups"]}
    for arn, tags in _elb_tags(clients, list(lbs) + list(tgs)):
        if T.APP not in tags:
            continue
        if arn in lbs:
            out.append(_owned("load-balancer", lbs[arn]["LoadBalancerName"], tags, lbs[arn].get("CreatedTime"), {"id": arn}))
        else:
            out.append(_owned("target-group", tgs[arn]["TargetGroupName"], tags, None, {"id": arn}))
    return out


def _until_free(what: str, attempt: Any, timeout: float) -> None:
    """Runs `attempt` until AWS stops answering that something still uses the object."""
    delete_until_free(attempt, what, timeout, pause=2.0)


def delete_owned(clients: AwsClients, obj: OwnedObject, timeout: float) -> None:
    """Deletes one object by id, waiting (bounded) for what still uses it to let go."""
    ident, ec2, what = str(obj.ref["id"]), clients.ec2, f"{obj.kind} {obj.name}"
    if obj.kind == "instance":
        _until_free(what, lambda: ec2.terminate_instances(InstanceIds=[ident]), timeout)
        deadline = time.monotonic() + timeout
        while True:
            found = call(ec2.describe_instances, InstanceIds=[ident], action="read", what=what)
            states = [i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]]
            if all(s == "terminated" for s in states):
                return
            if time.monotonic() > deadline:
                raise TargetError(f"{what} is still {states[0]} after {timeout:.0f}s; it was not deleted")
            cancel.pause(2)
    elif obj.kind == "load-balancer":
        _until_free(what, lambda: clients.elbv2.delete_load_balancer(LoadBalancerArn=ident), timeout)
    elif obj.kind == "target-group":
        _until_free(what, lambda: clients.elbv2.delete_target_group(TargetGroupArn=ident), timeout)
    elif obj.kind == "volume":
        _until_free(what, lambda: ec2.delete_volume(VolumeId=ident), timeout)
    elif obj.kind == "security-group":
        _until_free(what, lambda: ec2.delete_security_group(GroupId=ident), timeout)
    else:
        raise ValueError(f"the aws provider does not list {obj.kind} objects")


class AwsOwned:
    """The OwnedLister role of AwsProvider (LIST_OWNED)."""

    clients: AwsClients

    def list_owned(self, app: App) -> list[OwnedObject]:
        return list_owned(self.clients)

    def delete_owned(self, obj: OwnedObject, ctx: ApplyContext) -> None:
        delete_owned(self.clients, obj, ctx.timeout)
