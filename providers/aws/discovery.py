"""Service discovery on AWS: a private Route 53 zone `<app>.portable.internal` in the VPC.

Every service with instances gets an A record listing their private addresses (TTL 10 s);
containers start with `--dns-search <zone>`, so `http://api:8080` reaches the api instances
and keeps reaching them after a blue/green replacement (the record is updated once the new
instances serve, and again when the old are gone). The zone is tagged like every other
object; its records belong to it.
"""
from __future__ import annotations

import re
import threading
import uuid
from typing import Any

from portable.plan.resources import Observed, Resource
from portable.providers.aws import tags as T
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.errors import call
from portable.providers.aws.network import Network
from portable.providers.base import ApplyContext

KIND = "dns-zone"
TTL = 10


def zone_name(app_name: str, target: str) -> str:
    """`<app>.<target>.portable.internal`: one VPC may hold the app on several targets."""
    label = re.sub(r"[^a-z0-9-]+", "-", target.lower()).strip("-")[:63] or "target"
    return f"{app_name}.{label}.portable.internal"


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


class ServiceDiscovery:
    def __init__(self, clients: AwsClients, network: Network) -> None:
        self.clients = clients
        self.network = network
        self._lock = threading.Lock()  # record updates of one zone, from parallel group applies

    def name(self, app_name: str) -> str:
        return zone_name(app_name, self.clients.target)

    def find(self, app_name: str) -> tuple[str, dict[str, str]] | None:
        """(zone id, tags) of the app's private zone in this target's VPC."""
        r53 = self.clients.route53
        pages = r53.get_paginator("list_hosted_zones").paginate()
        zones = [z for page in call(list, pages, action="list", what="hosted zones") for z in page["HostedZones"]]
        ids = [z["Id"].rsplit("/", 1)[-1] for z in zones if z["Name"] == _fqdn(self.name(app_name)) and z.get("Config", {}).get("PrivateZone")]
        vpc = self.network.vpc_id()
        for zid in ids:
            found = call(r53.list_tags_for_resources, ResourceType="hostedzone", ResourceIds=[zid], action="read the tags of", what=f"hosted zone {zid}")
            tags = {t["Key"]: t["Value"] for s in found["ResourceTagSets"] for t in s.get("Tags", [])}
            if not T.owned(tags, app_name, self.clients.target):
                continue
            vpcs = call(r53.get_hosted_zone, Id=zid, action="read", what=f"hosted zone {zid}").get("VPCs", [])
            if any(v.get("VPCId") == vpc for v in vpcs):
                return zid, tags
        return None

    def observe(self, app_name: str) -> list[Observed]:
        found = self.find(app_name)
        if found is None:
            return []
        zid, tags = found
        return [Observed(KIND, tags.get(T.NAME, self.name(app_name)), tags.get(T.DIGEST), info={"id": zid})]

    def ensure(self, app_name: str, res: Resource, ctx: ApplyContext) -> str:
        r53 = self.clients.route53
        found = self.find(app_name)
        if found is None:
            created = call(
                r53.create_hosted_zone, Name=res.spec["name"], CallerReference=f"portable-{app_name}-{uuid.uuid4().hex}",
                VPC={"VPCRegion": self.clients.region, "VPCId": self.network.vpc_id()},
                HostedZoneConfig={"PrivateZone": True, "Comment": f"portable: service discovery of app {app_name}"},
                action="create", what=f"private zone {res.spec['name']}",
            )
            zid = str(created["HostedZone"]["Id"]).rsplit("/", 1)[-1]
        else:
            zid = found[0]
        tags = T.base_tags(app_name, res.kind, res.name, res.digest, target=self.clients.target)
        call(r53.change_tags_for_resource, ResourceType="hostedzone", ResourceId=zid, AddTags=T.tag_list(tags), action="tag", what=f"private zone {res.spec['name']}")
        ctx.progress(f"private zone {res.spec['name']} ({zid})")
        return zid

    def _records(self, zid: str) -> list[dict[str, Any]]:
        pages = self.clients.route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zid)
        return [r for page in call(list, pages, action="list", what=f"the records of {zid}") for r in page["ResourceRecordSets"] if r["Type"] not in ("SOA", "NS")]

    def publish(self, app_name: str, service: str, addresses: list[str]) -> None:
        """Points <service>.<zone> at `addresses` (removes the record when there are none)."""
        found = self.find(app_name)
        if found is None:
            return  # an app with a single service has no zone
        zid = found[0]
        name = _fqdn(f"{service}.{self.name(app_name)}")
        with self._lock:
            current = next((r for r in self._records(zid) if r["Name"] == name and r["Type"] == "A"), None)
            if addresses:
                record = {"Name": name, "Type": "A", "TTL": TTL, "ResourceRecords": [{"Value": a} for a in sorted(set(addresses))]}
                change = {"Action": "UPSERT", "ResourceRecordSet": record}
            elif current is not None:
                change = {"Action": "DELETE", "ResourceRecordSet": current}
            else:
                return
            call(self.clients.route53.change_resource_record_sets, HostedZoneId=zid, ChangeBatch={"Changes": [change]}, action="update", what=f"the address record of {service}")

    def delete(self, app_name: str) -> None:
        found = self.find(app_name)
        if found is None:
            return
        zid = found[0]
        records = self._records(zid)
        if records:
            call(self.clients.route53.change_resource_record_sets, HostedZoneId=zid, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in records]}, action="empty", what=f"private zone {self.name(app_name)}")
        call(self.clients.route53.delete_hosted_zone, Id=zid, action="delete", what=f"private zone {self.name(app_name)}")
