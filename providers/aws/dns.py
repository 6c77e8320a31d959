"""The optional Route 53 record pointing `domain` at the app's load balancer.

Route 53 records carry no tags, so ownership is recorded the way external-dns does it: a TXT
record `_portable.<domain>` holding the app name and the spec digest.
"""
from __future__ import annotations

from typing import Any

from portable.errors import InputError, NotFoundError, TargetError
from portable.plan.resources import Observed, Resource
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.errors import call
from portable.providers.aws.loadbalancer import LoadBalancing
from portable.providers.base import ApplyContext

KIND = "dns-record"


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


class Dns:
    def __init__(self, clients: AwsClients, lbs: LoadBalancing) -> None:
        self.clients = clients
        self.lbs = lbs

    def zone_id(self) -> str:
        zone = self.clients.settings.hosted_zone or ""
        if zone.startswith("/hostedzone/") or (zone.startswith("Z") and "." not in zone):
            return zone.rsplit("/", 1)[-1]
        found = call(self.clients.route53.list_hosted_zones_by_name, DNSName=_fqdn(zone), MaxItems="1", action="find", what=f"hosted zone {zone}")
        for z in found["HostedZones"]:
            if z["Name"] == _fqdn(zone):
                return str(z["Id"]).rsplit("/", 1)[-1]
        raise NotFoundError(f"Route 53 has no hosted zone {zone}", hint="create it, or fix `hosted_zone` on the target")

    def _records(self, domain: str) -> dict[tuple[str, str], dict[str, Any]]:
        found = call(self.clients.route53.list_resource_record_sets, HostedZoneId=self.zone_id(), action="list", what=f"the records of {domain}")
        wanted = {_fqdn(domain), _fqdn("_portable." + domain)}
        return {(r["Name"], r["Type"]): r for r in found["ResourceRecordSets"] if r["Name"] in wanted}

    def observe(self, app_name: str) -> list[Observed]:
        domain = self.clients.settings.domain
        if not domain or not self.clients.settings.hosted_zone:
            return []
        owner = self._records(domain).get((_fqdn("_portable." + domain), "TXT"))
        if owner is None:
            return []
        text = " ".join(v["Value"].strip('"') for v in owner.get("ResourceRecords", []))
        fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
        if fields.get("app") != app_name or fields.get("target", self.clients.target) != self.clients.target:
            return []
        return [Observed(KIND, domain, fields.get("digest"), info={"zone": self.zone_id()})]

    def ensure(self, app_name: str, res: Resource, ctx: ApplyContext) -> None:
        domain = res.name
        found = self.lbs.load_balancer(app_name)
        if found is None:
            raise TargetError(f"the load balancer of {app_name} is missing, so {domain} cannot point at it; deploy again")
        lb = found[0]
        changes = [
            {"Action": "UPSERT", "ResourceRecordSet": {
                "Name": _fqdn(domain), "Type": "A",
                "AliasTarget": {"HostedZoneId": lb["CanonicalHostedZoneId"], "DNSName": lb["DNSName"], "EvaluateTargetHealth": True},
            }},
            {"Action": "UPSERT", "ResourceRecordSet": {
                "Name": _fqdn("_portable." + domain), "Type": "TXT", "TTL": 300,
                "ResourceRecords": [{"Value": f'"app={app_name} target={self.clients.target} digest={res.digest}"'}],
            }},
        ]
        call(self.clients.route53.change_resource_record_sets, HostedZoneId=self.zone_id(), ChangeBatch={"Comment": f"portable: {app_name}", "Changes": changes}, action="point", what=f"{domain} at {lb['DNSName']}")
        ctx.progress(f"{domain} -> {lb['DNSName']}")

    def delete(self, domain: str) -> None:
        records = self._records(domain)
        changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in records.values()]
        if changes:
            call(self.clients.route53.change_resource_record_sets, HostedZoneId=self.zone_id(), ChangeBatch={"Changes": changes}, action="delete", what=f"the records of {domain}")


def _record_value(target: str) -> tuple[str, str]:
    """(record type, value): A for an IPv4 address, CNAME for a host name."""
    parts = target.split(".")
    return ("A" if len(parts) == 4 and all(p.isdigit() for p in parts) else "CNAME"), target


class Route53Records:
    """The DnsProvider role on Route 53 (migration cutover), with boto3's credential chain.

    An address gets an A record; an AWS load balancer an alias A record (what Route 53 wants
    for load balancers, and the only way to serve a zone's apex name); any other host name a
    CNAME, refused at the apex, where DNS allows none. A record of another type under the
    same name is replaced in the same change batch; errors are mapped like every AWS call."""

    def __init__(self, region: str | None = None) -> None:
        import boto3

        session = boto3.session.Session(region_name=region)
        self.route53 = session.client("route53")
        self.elbv2 = session.client("elbv2")

    def _load_balancer(self, host: str) -> dict[str, Any] | None:
        """The ELBv2 load balancer whose DNS name is `host`, if it is one of this account's."""
        if not host.endswith(".amazonaws.com") and ".elb." not in host:
            return None
        pages = call(self.elbv2.get_paginator("describe_load_balancers").paginate().build_full_result, action="list", what="load balancers")
        return next((lb for lb in pages.get("LoadBalancers", []) if lb["DNSName"].rstrip(".").lower() == host.rstrip(".").lower()), None)

    def point(self, record: str, zone: str, target: str, *, ttl: int = 60) -> str:
        rtype, value = _record_value(target)
        name = _fqdn(record)
        zone_id = zone.rsplit("/", 1)[-1]
        zone_name = call(self.route53.get_hosted_zone, Id=zone_id, action="read", what=f"hosted zone {zone_id}")["HostedZone"]["Name"]
        rrset: dict[str, Any] = {"Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": value}]}
        said = f"{rtype} -> {value} (ttl {ttl}s)"
        if rtype == "CNAME":
            lb = self._load_balancer(value)
            if lb is not None:
                rtype, said = "A", f"A alias -> {lb['DNSName']}"
                rrset = {"Name": name, "Type": "A", "AliasTarget": {"HostedZoneId": lb["CanonicalHostedZoneId"], "DNSName": lb["DNSName"], "EvaluateTargetHealth": True}}
            elif name.lower() == zone_name.lower():
                raise InputError(f"{record} is the apex of zone {zone_name.rstrip('.')}, which cannot be a CNAME to {value}",
                                 hint="point a name inside the zone (www.), or use an address or an AWS load balancer (alias record)")
        listed = call(self.route53.list_resource_record_sets, HostedZoneId=zone_id, StartRecordName=name, action="list", what=f"the records of {record} in zone {zone_id}")
        stale = [r for r in listed["ResourceRecordSets"] if r["Name"] == name and r["Type"] in ("A", "AAAA", "CNAME") and r["Type"] != rtype]
        changes: list[dict[str, Any]] = [{"Action": "DELETE", "ResourceRecordSet": r} for r in stale]
        changes.append({"Action": "UPSERT", "ResourceRecordSet": rrset})
        call(self.route53.change_resource_record_sets, HostedZoneId=zone_id, ChangeBatch={"Comment": "portable migrate cutover", "Changes": changes}, action="point", what=f"{record} at {value}")
        return f"DNS {record} {said}"
