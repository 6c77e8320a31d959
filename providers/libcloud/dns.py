"""The DnsProvider role through any libcloud DNS driver (migration cutover).

Opened two ways: `--dns-provider libcloud:<driver>` (credentials from LIBCLOUD_DNS_KEY /
LIBCLOUD_DNS_SECRET, no options), or `--dns-provider <target>` for a libcloud target that
declares `dns:` (driver, non-secret options such as PowerDNS's host and port, and the names
of the variables holding the key). Errors are mapped by the provider's own error module, like
every libcloud call; a refused key is said naming the variable and the setting, never the key.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from portable.errors import AuthError, InputError, NotFoundError, TargetError
from portable.providers.libcloud.connect import call
from portable.providers.libcloud.settings import LibcloudDnsSettings

# drivers whose record names are absolute (`www.example.com.`), not relative to the zone
ABSOLUTE_NAMES = frozenset({"powerdns"})
# constructor arguments a driver needs to talk to today's servers (PowerDNS >= 4 serves API v1)
DRIVER_DEFAULTS: dict[str, dict[str, Any]] = {"powerdns": {"api_version": "v1"}}


class LibcloudRecords:
    """Points a record at an endpoint in a zone served by libcloud DNS driver `driver`."""

    def __init__(
        self,
        driver: str,
        env: Mapping[str, str] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        key_env: str = "LIBCLOUD_DNS_KEY",
        secret_env: str | None = "LIBCLOUD_DNS_SECRET",
        setting: str | None = None,
    ) -> None:
        from libcloud.dns.providers import get_driver

        environ = os.environ if env is None else env
        self.driver_name = driver
        self.key_env = key_env
        # where the key's variable is named, for messages: targets.<t>.dns.key_env, or the default variable
        self.key_setting = f"{setting}.key_env ({key_env})" if setting else key_env
        key = environ.get(key_env, "")
        if not key and setting:
            raise InputError(f"{setting}.key_env: {key_env} is not set; export it with the API key of the {driver} DNS service")
        secret = environ.get(secret_env, "") if secret_env else ""
        try:
            cls = call(get_driver, driver, action="load", what=f"libcloud DNS driver {driver}", attempts=1)
        except TargetError:
            where = f"{setting}.driver" if setting else f"--dns-provider libcloud:{driver}"
            raise InputError(f"{where}: libcloud has no DNS driver named `{driver}` (see libcloud.dns.types.Provider)") from None
        kwargs = {**DRIVER_DEFAULTS.get(driver, {}), **dict(options or {})}
        args = [key] + ([secret] if secret else [])
        self.driver: Any = call(cls, *args, action="open", what=f"the libcloud {driver} DNS driver", attempts=1, **kwargs)

    def _zone(self, zone: str) -> Any:
        """The zone, or one sentence naming what to fix: the key's setting, or --dns-zone."""
        try:
            return call(self.driver.get_zone, zone, action="find", what=f"DNS zone {zone}")
        except AuthError:
            raise InputError(f"the {self.driver_name} DNS service refused the API key in {self.key_setting}: set it to a key the service accepts") from None
        except NotFoundError:
            raise InputError(f"--dns-zone {zone}: the {self.driver_name} DNS service has no such zone") from None
        except TargetError as exc:
            if "not found" in exc.message.lower() or "could not find" in exc.message.lower() or "does not exist" in exc.message.lower():
                raise InputError(f"--dns-zone {zone}: the {self.driver_name} DNS service has no such zone") from None
            raise

    def check(self, zone: str) -> None:
        """Read-only, while planning: the key is accepted and the zone exists (nothing changes)."""
        self._zone(zone)

    def point(self, record: str, zone: str, target: str, *, ttl: int = 60) -> str:
        from libcloud.dns.types import RecordType

        parts = target.split(".")
        rtype = "A" if len(parts) == 4 and all(p.isdigit() for p in parts) else "CNAME"
        kind = RecordType.A if rtype == "A" else RecordType.CNAME
        found = self._zone(zone)
        domain = str(found.domain).rstrip(".")
        fqdn = record.rstrip(".")
        if self.driver_name in ABSOLUTE_NAMES:
            name, data = fqdn + ".", target if rtype == "A" else target.rstrip(".") + "."
        else:
            name, data = ("" if fqdn == domain else fqdn.removesuffix("." + domain)), target
        records = call(found.list_records, action="list", what=f"the records of zone {zone}")
        existing = [r for r in records if r.name == name and r.type == kind]
        if existing:
            call(self.driver.update_record, existing[0], name, kind, data, {"ttl": ttl}, action="update", what=f"record {record}")
        else:
            call(self.driver.create_record, name, found, kind, data, {"ttl": ttl}, action="create", what=f"record {record}")
        return f"DNS {record} {rtype} -> {target} (ttl {ttl}s)"


def records_of(settings: LibcloudDnsSettings, env: Mapping[str, str], setting: str) -> LibcloudRecords:
    """The DnsProvider a libcloud target declares under `dns:` (`setting` is its field path)."""
    return LibcloudRecords(settings.driver, env, options=settings.options, key_env=settings.key_env, secret_env=settings.secret_env, setting=setting)
