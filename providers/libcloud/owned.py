"""`portable gc` through a libcloud driver: every node, volume and (EC2) security group whose
name carries portable's owner (`pt--<app>--<target>--...`, naming.py), whatever app it names,
and their deletion.

libcloud has no portable tags on every driver, so the name is the mark: it gives the app, the
target (as its label) and the resource (service and replica, disk, or the app's group).
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from portable.engine import cancel
from portable.errors import TargetError
from portable.manifest.app import App
from portable.providers.base import ApplyContext, Capability, OwnedObject
from portable.providers.libcloud.account import LibcloudAccount
from portable.providers.libcloud.connect import call
from portable.providers.libcloud.listing import all_nodes
from portable.providers.libcloud.firewall import KIND as SG_KIND, Firewall
from portable.providers.libcloud.naming import PREFIX, owner_of
from portable.providers.libcloud.nodes import GONE
from portable.providers.libcloud.profiles import DriverProfile
from portable.providers.libcloud.volumes import Volumes
from portable.providers.vm import GROUP_KIND, VOLUME_KIND

ORDER = {"node": 0, "volume": 1, "security-group": 2}


def _parts(name: str | None) -> list[str] | None:
    """`pt--app--target--rest...` split at `--`, without the prefix; None for other names."""
    parts = str(name or "").split("--")
    return parts[1:] if len(parts) >= 3 and parts[0] == PREFIX and all(parts[1:3]) else None


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def list_owned(account: LibcloudAccount, profile: DriverProfile, app: App) -> list[OwnedObject]:
    """Every node, volume and security group named for portable, for any app and target."""
    driver, target = account.driver(app), account.target_name
    mine = owner_of("x", target).split("--", 1)[1]  # this target's label in names

    def owned(kind: str, name: str, parts: list[str], resource: str | None, **extra: Any) -> OwnedObject:
        label = parts[1]
        return OwnedObject(kind=kind, name=name, app=parts[0], resource=resource, target=target if label == mine else label,
                           order=ORDER[kind], labels={"name": name}, **extra)

    out: list[OwnedObject] = []
    for node in call(all_nodes, driver, action="list", what="instances"):
        parts = _parts(node.name)
        if parts is None or len(parts) != 5 or str(node.state) in GONE:
            continue
        out.append(owned("node", node.name, parts, f"{GROUP_KIND}/{parts[2]}", service=parts[2],
                         created=_when(getattr(node, "created_at", None)), ref={"id": node.id}))
    if Capability.VOLUMES in profile.capabilities:
        for v in call(driver.list_volumes, action="list", what="volumes"):
            parts = _parts(v.name)
            if parts is None or len(parts) != 3 or str(v.state) in ("deleting", "deleted"):
                continue
            out.append(owned("volume", v.name, parts, f"{VOLUME_KIND}/{parts[2]}", stateful=True,
                             created=_when((v.extra or {}).get("create_time")), ref={"id": v.id, "disk": parts[2]}))
    if profile.firewall:
        for g in call(driver.ex_get_security_groups, action="list", what="security groups"):
            parts = _parts(g.name)
            if parts is None or len(parts) != 2:
                continue
            out.append(owned("security-group", g.name, parts, f"{SG_KIND}/{parts[0]}", ref={"id": g.id}))
    return out


def delete_owned(account: LibcloudAccount, obj: OwnedObject, ctx: ApplyContext) -> None:
    """Deletes one object: a node (waiting for it to be gone), a volume once free, a group
    once no node of its app is left (the same waits as destroy's)."""
    driver = account.driver(ctx.app)
    owner = owner_of(obj.app, account.target_name)
    if obj.kind == "node":
        node = next((n for n in call(all_nodes, driver, action="list", what="instances") if n.id == obj.ref["id"]), None)
        if node is None or str(node.state) in GONE:
            return
        call(driver.destroy_node, node, action="terminate", what=f"instance {node.id} ({obj.name})")
        deadline = time.monotonic() + ctx.timeout
        while any(n.id == node.id and str(n.state) not in GONE for n in call(all_nodes, driver, action="list", what="instances")):
            if time.monotonic() > deadline:
                raise TargetError(f"instance {node.id} ({obj.name}) was not terminated within {ctx.timeout:.0f}s")
            cancel.pause(2)
    elif obj.kind == "volume":
        Volumes(driver, account.settings.driver, lambda: [], owner, account.target_name).delete(obj.app, str(obj.ref["disk"]), ctx)
    elif obj.kind == "security-group":
        Firewall(driver, owner, account.target_name).delete(obj.app, ctx)
    else:
        raise ValueError(f"the libcloud provider does not list {obj.kind} objects")


class LibcloudOwned:
    """The OwnedLister role of LibcloudProvider (LIST_OWNED)."""

    account: LibcloudAccount
    profile: DriverProfile

    def list_owned(self, app: App) -> list[OwnedObject]:
        return list_owned(self.account, self.profile, app)

    def delete_owned(self, obj: OwnedObject, ctx: ApplyContext) -> None:
        delete_owned(self.account, obj, ctx)
