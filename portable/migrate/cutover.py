"""The cutover: point users at the destination, by DNS when configured, else say how.

Route 53 through boto3, or any libcloud DNS driver (`libcloud:<driver>`, credentials from
LIBCLOUD_DNS_KEY / LIBCLOUD_DNS_SECRET). Without DNS the exact manual step is printed.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from portable.errors import InputError, MigrationError


@dataclass(frozen=True)
class Cutover:
    record: str  # fully qualified name, e.g. shop.example.com
    zone: str  # Route 53 hosted zone id, or the libcloud zone id / domain
    provider: str = "route53"  # route53 | libcloud:<driver>
    ttl: int = 60


def _target_of(endpoints: list[str]) -> tuple[str, str]:
    """(record type, value) for the first endpoint: A for an IP, CNAME for a host name."""
    if not endpoints:
        raise MigrationError("the destination reports no public endpoint to point DNS at")
    raw = endpoints[0]
    host = urlparse(raw if "://" in raw else f"//{raw}").hostname or raw
    parts = host.split(".")
    is_ip = len(parts) == 4 and all(p.isdigit() for p in parts)
    return ("A" if is_ip else "CNAME"), host


def cut_over(cutover: Cutover | None, endpoints: list[str], progress: Callable[[str], None]) -> str:
    if cutover is None:
        where = ", ".join(endpoints) if endpoints else "the destination's endpoints (portable status)"
        message = f"no DNS configured: point your users (or your DNS record) at {where}"
        progress(message)
        return message
    rtype, value = _target_of(endpoints)
    if cutover.provider == "route53":
        import boto3

        r53 = boto3.client("route53")
        name = cutover.record.rstrip(".") + "."
        listed = r53.list_resource_record_sets(HostedZoneId=cutover.zone, StartRecordName=name)["ResourceRecordSets"]
        # a CNAME may not share its name with an A record (and back): replace, in one batch
        stale = [r for r in listed if r["Name"] == name and r["Type"] in ("A", "AAAA", "CNAME") and r["Type"] != rtype]
        changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in stale]
        changes.append({"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": rtype, "TTL": cutover.ttl, "ResourceRecords": [{"Value": value}]}})
        r53.change_resource_record_sets(HostedZoneId=cutover.zone, ChangeBatch={"Comment": "portable migrate cutover", "Changes": changes})
    elif cutover.provider.startswith("libcloud:"):
        from libcloud.dns.providers import get_driver
        from libcloud.dns.types import RecordType

        driver = get_driver(cutover.provider.split(":", 1)[1])(os.environ.get("LIBCLOUD_DNS_KEY", ""), os.environ.get("LIBCLOUD_DNS_SECRET", ""))
        zone = driver.get_zone(cutover.zone)
        name = cutover.record.removesuffix("." + zone.domain).removesuffix(zone.domain)
        existing = [r for r in zone.list_records() if r.name == name and r.type == getattr(RecordType, rtype)]
        if existing:
            driver.update_record(existing[0], name, getattr(RecordType, rtype), value, {"ttl": cutover.ttl})
        else:
            driver.create_record(name, zone, getattr(RecordType, rtype), value, {"ttl": cutover.ttl})
    else:
        raise InputError(f"unknown DNS provider {cutover.provider!r}: use route53 or libcloud:<driver>")
    message = f"DNS {cutover.record} {rtype} -> {value} (ttl {cutover.ttl}s)"
    progress(message)
    return message
