"""VPC, subnets and the app's security groups.

Instances spread over one subnet per availability zone (replica i goes to subnet i mod n),
so a replica's EBS volume is created in the zone its instance will run in.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


from portable.errors import NotFoundError, TargetError
from portable.plan.resources import Observed, Resource
from portable.providers.aws import tags as T
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.errors import call, delete_until_free
from portable.providers.base import ApplyContext


@dataclass(frozen=True)
class Subnet:
    id: str
    zone: str


class Network:
    """Resolves (once) the VPC and subnets the target uses."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.settings = clients.settings
        self._lock = threading.Lock()
        self._vpc: str | None = None
        self._subnets: list[Subnet] | None = None

    def vpc_id(self) -> str:
        with self._lock:
            if self._vpc is None:
                if self.settings.vpc_id:
                    self._vpc = self.settings.vpc_id
                else:
                    found = call(self.clients.ec2.describe_vpcs, Filters=[{"Name": "isDefault", "Values": ["true"]}], action="find", what="the default VPC")
                    if not found["Vpcs"]:
                        raise NotFoundError(f"region {self.clients.region} has no default VPC", hint="set `vpc_id` and `subnet_ids` on the target")
                    self._vpc = found["Vpcs"][0]["VpcId"]
            return self._vpc

    def subnets(self) -> list[Subnet]:
        """One subnet per availability zone, sorted by zone."""
        vpc = self.vpc_id()
        with self._lock:
            if self._subnets is None:
                if self.settings.subnet_ids:
                    found = call(self.clients.ec2.describe_subnets, SubnetIds=list(self.settings.subnet_ids), action="find", what=f"subnets {', '.join(self.settings.subnet_ids)}")
                else:
                    filters = [{"Name": "vpc-id", "Values": [vpc]}]
                    if not self.settings.vpc_id:
                        filters.append({"Name": "default-for-az", "Values": ["true"]})
                    found = call(self.clients.ec2.describe_subnets, Filters=filters, action="find", what=f"the subnets of {vpc}")
                per_zone: dict[str, Subnet] = {}
                for s in sorted(found["Subnets"], key=lambda s: (s["AvailabilityZone"], s["SubnetId"])):
                    per_zone.setdefault(s["AvailabilityZone"], Subnet(s["SubnetId"], s["AvailabilityZone"]))
                if not per_zone:
                    raise NotFoundError(f"VPC {vpc} has no subnets to place instances in", hint="set `subnet_ids` on the target")
                self._subnets = list(per_zone.values())
            return self._subnets

    def subnet_for(self, replica: int) -> Subnet:
        subnets = self.subnets()
        return subnets[replica % len(subnets)]


def _group_name(app_name: str, target: str, name: str) -> str:
    """Unique per VPC: two targets (staging, prod) may share one."""
    role = name[len(app_name):].lstrip("-") if name.startswith(app_name) else name
    return "-".join(p for p in ("portable", app_name, target, role) if p)


class SecurityGroups:
    """create/update/delete of `security-group` resources, and observing them."""

    def __init__(self, clients: AwsClients, network: Network) -> None:
        self.clients = clients
        self.network = network

    def find(self, app_name: str, name: str) -> dict[str, Any] | None:
        found = call(
            self.clients.ec2.describe_security_groups,
            Filters=[*T.owner_filters(app_name, self.clients.target), {"Name": f"tag:{T.NAME}", "Values": [name]}],
            action="find", what=f"security group {name}",
        )
        return found["SecurityGroups"][0] if found["SecurityGroups"] else None

    def observe(self, app_name: str) -> list[Observed]:
        found = call(self.clients.ec2.describe_security_groups, Filters=T.owner_filters(app_name, self.clients.target), action="list", what=f"the security groups of {app_name}")
        out = []
        for g in found["SecurityGroups"]:
            tags = T.tag_dict(g.get("Tags"))
            out.append(Observed("security-group", tags.get(T.NAME, g["GroupName"]), tags.get(T.DIGEST), info={"id": g["GroupId"], "vpc": g.get("VpcId")}))
        return out

    def _wanted(self, app_name: str, resource: Resource, own_id: str) -> set[tuple[int, str, str]]:
        out = set()
        for rule in resource.spec["rules"]:
            source = rule["from"]
            if source == "self":
                source = own_id
            elif source == "load-balancer":
                lb = self.find(app_name, f"{app_name}-lb")
                if lb is None:
                    raise TargetError(f"security group {app_name}-lb of the load balancer is missing; deploy again to recreate it")
                source = lb["GroupId"]
            out.add((int(rule["port"]), rule["protocol"], source))
        return out

    @staticmethod
    def _current(group: dict[str, Any]) -> set[tuple[int, str, str]]:
        out = set()
        for perm in group.get("IpPermissions", []):
            port = int(perm.get("FromPort", -1))
            for r in perm.get("IpRanges", []):
                out.add((port, perm["IpProtocol"], r["CidrIp"]))
            for p in perm.get("UserIdGroupPairs", []):
                out.add((port, perm["IpProtocol"], p["GroupId"]))
        return out

    @staticmethod
    def _permissions(rules: set[tuple[int, str, str]]) -> list[dict[str, Any]]:
        perms = []
        for port, proto, source in sorted(rules):
            perm: dict[str, Any] = {"IpProtocol": proto, "FromPort": port, "ToPort": port}
            if source.startswith("sg-"):
                perm["UserIdGroupPairs"] = [{"GroupId": source}]
            else:
                perm["IpRanges"] = [{"CidrIp": source, "Description": "portable: public port"}]
            perms.append(perm)
        return perms

    def ensure(self, app_name: str, resource: Resource, ctx: ApplyContext) -> str:
        """Creates the group if missing and makes its ingress rules match the spec."""
        ec2 = self.clients.ec2
        group = self.find(app_name, resource.name)
        if group is None:
            tags = T.base_tags(app_name, resource.kind, resource.name, resource.digest, target=self.clients.target)
            created = call(
                ec2.create_security_group,
                GroupName=_group_name(app_name, self.clients.target, resource.name),
                Description=f"portable: {resource.spec['role']} of app {app_name}",
                VpcId=self.network.vpc_id(),
                TagSpecifications=[{"ResourceType": "security-group", "Tags": T.tag_list(tags)}],
                action="create", what=f"security group {resource.name}",
            )
            group = {"GroupId": created["GroupId"], "IpPermissions": []}
        gid = group["GroupId"]
        want = self._wanted(app_name, resource, gid)
        have = self._current(group)
        if have - want:
            call(ec2.revoke_security_group_ingress, GroupId=gid, IpPermissions=self._permissions(have - want), action="update the rules of", what=f"security group {resource.name}")
        if want - have:
            call(ec2.authorize_security_group_ingress, GroupId=gid, IpPermissions=self._permissions(want - have), action="update the rules of", what=f"security group {resource.name}")
        call(ec2.create_tags, Resources=[gid], Tags=T.tag_list({T.DIGEST: resource.digest}), action="tag", what=f"security group {resource.name}")
        ctx.progress(f"security group {resource.name} ({gid}): {len(want)} ingress rule(s)")
        return gid

    def delete(self, app_name: str, name: str, ctx: ApplyContext) -> None:
        """Deletes the group, waiting (bounded) while instances or load balancers still use it."""
        group = self.find(app_name, name)
        if group is None:
            return
        delete_until_free(lambda: self.clients.ec2.delete_security_group(GroupId=group["GroupId"]),
                          f"security group {name} ({group['GroupId']})", ctx.timeout)

