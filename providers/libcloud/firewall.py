"""The app's EC2 security group through libcloud's EC2 driver (the `firewall` profile flag).

Without a load balancer every public port is opened on the instances themselves (from
anywhere); internal ports only to the app's own instances.
"""
from __future__ import annotations

import time
from typing import Any

from portable.engine import cancel
from portable.errors import RepeatAction, TargetError
from portable.manifest.app import App
from portable.plan.resources import Observed, Resource
from portable.providers.base import ApplyContext
from portable.providers.libcloud import ec2
from portable.providers.libcloud.connect import call
from portable.providers.libcloud.listing import all_nodes
from portable.providers.libcloud.naming import group_name, parse_node_name

KIND = "security-group"
Rule = tuple[int, str, str]


def firewall_rules(app: App) -> list[dict[str, Any]]:
    """Ingress rules for the app's instances, derived from the ports."""
    rules: set[Rule] = set()
    for svc in app.services.values():
        for p in svc.ports:
            proto = "udp" if p.protocol == "udp" else "tcp"
            if p.expose == "public":
                rules.add((p.public_port, proto, "0.0.0.0/0"))
            elif p.expose == "internal":
                rules.add((p.port, proto, "self"))
    return [{"port": port, "protocol": proto, "from": src} for port, proto, src in sorted(rules)]


class Firewall:
    def __init__(self, driver: Any, owner: str, target: str) -> None:
        self.driver = driver
        self.owner = owner  # naming.owner_of(app, target)
        self.target = target

    def find(self, app_name: str) -> Any | None:
        groups = call(self.driver.ex_get_security_groups, filters={"group-name": group_name(self.owner)}, action="find", what=f"security group {group_name(self.owner)}")
        return groups[0] if groups else None

    @staticmethod
    def _current(group: Any) -> set[Rule]:
        out: set[Rule] = set()
        for rule in group.ingress_rules:
            port = int(rule.get("from_port") or -1)
            for cidr in rule.get("cidr_ips", []):
                out.add((port, rule["protocol"], cidr))
            for pair in rule.get("group_pairs", []):
                out.add((port, rule["protocol"], "self" if pair.get("group_id") == group.id else pair.get("group_id", "")))
        return out

    @staticmethod
    def _wanted(res: Resource) -> set[Rule]:
        return {(int(r["port"]), r["protocol"], r["from"]) for r in res.spec["rules"]}

    def observe(self, app_name: str, desired: Resource | None) -> list[Observed]:
        group = self.find(app_name)
        if group is None:
            return []
        digest = desired.digest if desired is not None and self._current(group) == self._wanted(desired) else None
        return [Observed(KIND, app_name, digest, info={"id": group.id})]

    def _change(self, fn: Any, group_id: str, rules: set[Rule], what: str) -> None:
        for port, proto, source in sorted(rules):
            kwargs: dict[str, Any] = {"group_pairs": [{"group_id": group_id}]} if source == "self" else {"cidr_ips": [source]}
            call(fn, group_id, port, port, protocol=proto, action="change the rules of", what=what, **kwargs)

    def ensure(self, app_name: str, res: Resource, ctx: ApplyContext) -> str:
        name = group_name(self.owner)
        group = self.find(app_name)
        if group is None:
            vpc = next(iter(ec2.default_subnets(self.driver).values())).extra["vpc_id"]
            try:
                created = call(self.driver.ex_create_security_group, name, f"portable: instances of app {app_name}", vpc_id=vpc, action="create", what=f"security group {name}")
            except TargetError:
                found = self.find(app_name)  # a retried create whose first try went through (its answer was lost)
                if found is None:
                    raise
                created = {"group_id": found.id}
            ec2.create_tags(self.driver, created["group_id"], {"portable:app": app_name, "portable:target": self.target, "portable:kind": KIND, "Name": name})
            group = self.find(app_name)
            if group is None:
                raise TargetError(f"security group {name} was created but cannot be found")
        want, have = self._wanted(res), self._current(group)
        try:
            self._change(self.driver.ex_revoke_security_group_ingress, group.id, have - want, f"security group {name}")
            self._change(self.driver.ex_authorize_security_group_ingress, group.id, want - have, f"security group {name}")
        except TargetError as exc:
            # a retried rule change whose first try went through (its answer lost) is refused as a
            # duplicate (or a missing rule): read the rules again before calling it a failure
            now = self.find(app_name)
            current = self._current(now) if now is not None else None
            if current != want:
                if current is not None and current != have:
                    raise RepeatAction(f"the rules of security group {name} changed under a retried call; looking again") from exc
                raise
        ctx.progress(f"security group {name} ({group.id}): {len(want)} ingress rule(s)")
        return str(group.id)

    def delete(self, app_name: str, ctx: ApplyContext) -> None:
        """Deletes the group once no instance of the app is left (bounded wait)."""
        group = self.find(app_name)
        if group is None:
            return
        deadline = time.monotonic() + ctx.timeout
        while any(
            parse_node_name(n.name, self.owner) is not None and n.state not in ("terminated",)
            for n in call(all_nodes, self.driver, action="list", what="instances")  # every page: a region may hold >100
        ):
            if time.monotonic() > deadline:
                raise TargetError(f"security group {group_name(self.owner)} is still used by instances of {app_name} after {ctx.timeout:.0f}s")
            cancel.pause(3)
        try:
            call(self.driver.ex_delete_security_group_by_id, group.id, action="delete", what=f"security group {group_name(self.owner)}")
        except TargetError:
            if self.find(app_name) is None:
                return  # a retried delete whose first try went through (its answer was lost)
            raise
