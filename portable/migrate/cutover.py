"""The cutover: point users at the destination, by DNS when configured, else say how.

The record is switched by a DnsProvider (providers.registry.dns_provider): Route 53, or any
libcloud DNS driver (`libcloud:<driver>`, credentials from LIBCLOUD_DNS_KEY /
LIBCLOUD_DNS_SECRET); their SDK errors are mapped there. Without DNS the exact manual step
is printed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from portable.errors import MigrationError


@dataclass(frozen=True)
class Cutover:
    record: str  # fully qualified name, e.g. shop.example.com
    zone: str  # Route 53 hosted zone id, or the libcloud zone id / domain
    provider: str = "route53"  # route53 | libcloud:<driver>
    ttl: int = 60
    service: str | None = None  # --dns-service: the public service DNS points at (default: the only one)


def _target_of(endpoints: list[str]) -> str:
    """The host of the first endpoint (an IP or a host name) to point the record at."""
    if not endpoints:
        raise MigrationError("the destination reports no public endpoint to point DNS at")
    raw = endpoints[0]
    return urlparse(raw if "://" in raw else f"//{raw}").hostname or raw


def cut_over(cutover: Cutover | None, endpoints: list[str], progress: Callable[[str], None]) -> str:
    """Switches the record through the DnsProvider named by `cutover.provider`, or says how to by hand."""
    if cutover is None:
        where = ", ".join(endpoints) if endpoints else "the destination's endpoints (portable status)"
        message = f"no DNS configured: point your users (or your DNS record) at {where}"
        progress(message)
        return message
    from portable.providers.registry import dns_provider

    message = dns_provider(cutover.provider).point(cutover.record, cutover.zone, _target_of(endpoints), ttl=cutover.ttl)
    progress(message)
    return message
