"""The cutover: point users at the destination, by DNS when configured, else say how.

The record is switched by a DnsProvider (providers.registry.dns_provider): Route 53, any
libcloud DNS driver (`libcloud:<driver>`, credentials from LIBCLOUD_DNS_KEY /
LIBCLOUD_DNS_SECRET), or the DNS service a target of the manifest declares (`--dns-provider
<target>`, e.g. a libcloud target's `dns:` block naming PowerDNS with its host and port); their
SDK errors are mapped there. Without DNS the exact manual step is printed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from portable.errors import InputError, MigrationError

if TYPE_CHECKING:
    from portable.providers.base import DnsProvider


@dataclass(frozen=True)
class Cutover:
    record: str  # fully qualified name, e.g. shop.example.com
    zone: str  # Route 53 hosted zone id, or the libcloud zone id / domain
    provider: str = "route53"  # route53 | libcloud:<driver> | a target of the manifest that declares its DNS
    ttl: int = 60
    service: str | None = None  # --dns-service: the public service DNS points at (default: the only one)


def _target_of(endpoints: list[str]) -> str:
    """The host of the first endpoint (an IP or a host name) to point the record at."""
    if not endpoints:
        raise MigrationError("the destination reports no public endpoint to point DNS at")
    raw = endpoints[0]
    return urlparse(raw if "://" in raw else f"//{raw}").hostname or raw


def dns_for(cutover: Cutover, session: Any = None) -> DnsProvider:
    """The DnsProvider `cutover.provider` names: a target of the session's manifest whose
    provider declares a DNS service (`dns_records`), else route53 / libcloud:<driver>."""
    targets = session.loaded.manifest.targets if session is not None else {}
    if cutover.provider in targets:
        name = cutover.provider
        records = getattr(session.provider(name), "dns_records", None)
        found = records(session.app(name)) if records is not None else None
        if found is None:
            raise InputError(f"--dns-provider {name}: target {name} declares no DNS service (set targets.{name}.dns, e.g. driver: powerdns with its host and port)")
        return found  # type: ignore[no-any-return]
    from portable.providers.registry import dns_provider

    return dns_provider(cutover.provider)


def check_dns(cutover: Cutover, session: Any = None) -> DnsProvider:
    """While planning: the DNS service opens and, where it can say so read-only, accepts the
    credentials and has the zone (a refused key is exit 2 before anything changes)."""
    dns = dns_for(cutover, session)
    check = getattr(dns, "check", None)
    if check is not None:
        check(cutover.zone)
    return dns


def cut_over(cutover: Cutover | None, endpoints: list[str], progress: Callable[[str], None], *, session: Any = None, dns: DnsProvider | None = None) -> str:
    """Switches the record through the DnsProvider named by `cutover.provider`, or says how to by hand."""
    if cutover is None:
        where = ", ".join(endpoints) if endpoints else "the destination's endpoints (portable status)"
        message = f"no DNS configured: point your users (or your DNS record) at {where}"
        progress(message)
        return message
    records = dns if dns is not None else dns_for(cutover, session)
    message = records.point(cutover.record, cutover.zone, _target_of(endpoints), ttl=cutover.ttl)
    progress(message)
    return message
