"""The DnsProvider role through any libcloud DNS driver (migration cutover).

Credentials come from LIBCLOUD_DNS_KEY / LIBCLOUD_DNS_SECRET; errors are mapped by the
provider's own error module, like every libcloud call.
"""
from __future__ import annotations

import os
from typing import Any

from portable.providers.libcloud.connect import call


class LibcloudRecords:
    """Points a record at an endpoint in a zone served by libcloud DNS driver `driver`."""

    def __init__(self, driver: str, env: dict[str, str] | None = None) -> None:
        from libcloud.dns.providers import get_driver

        environ = os.environ if env is None else env
        self.driver_name = driver
        self.driver: Any = call(get_driver, driver, action="load", what=f"libcloud DNS driver {driver}")(environ.get("LIBCLOUD_DNS_KEY", ""), environ.get("LIBCLOUD_DNS_SECRET", ""))

    def point(self, record: str, zone: str, target: str, *, ttl: int = 60) -> str:
        from libcloud.dns.types import RecordType

        parts = target.split(".")
        rtype = "A" if len(parts) == 4 and all(p.isdigit() for p in parts) else "CNAME"
        kind = RecordType.A if rtype == "A" else RecordType.CNAME
        found = call(self.driver.get_zone, zone, action="find", what=f"DNS zone {zone}")
        name = record.removesuffix("." + found.domain).removesuffix(found.domain)
        records = call(found.list_records, action="list", what=f"the records of zone {zone}")
        existing = [r for r in records if r.name == name and r.type == kind]
        if existing:
            call(self.driver.update_record, existing[0], name, kind, target, {"ttl": ttl}, action="update", what=f"record {record}")
        else:
            call(self.driver.create_record, name, found, kind, target, {"ttl": ttl}, action="create", what=f"record {record}")
        return f"DNS {record} {rtype} -> {target} (ttl {ttl}s)"
