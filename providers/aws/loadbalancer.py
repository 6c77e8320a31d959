"""The app's Application Load Balancer, its listeners and its target groups.

One ALB per app (only when a service publishes an http port), one listener per published
port forwarding to the target group of that service's port. Instances are registered by
the instance-group rollout, not here.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any


from portable.errors import TargetError
from portable.plan.resources import Observed, Resource
from portable.providers.aws import tags as T
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.errors import call, delete_until_free
from portable.providers.aws.network import Network, SecurityGroups
from portable.providers.base import ApplyContext


class LoadBalancing:
    """create/update/delete/observe of `target-group` and `load-balancer` resources."""

    def __init__(self, clients: AwsClients, network: Network, groups: SecurityGroups) -> None:
        self.clients = clients
        self.network = network
        self.groups = groups

    # -- lookups -------------------------------------------------------------------------

    def _tagged(self, arns: list[str]) -> Iterator[tuple[str, dict[str, str]]]:
        for i in range(0, len(arns), 20):
            found = call(self.clients.elbv2.describe_tags, ResourceArns=arns[i : i + 20], action="read the tags of", what="load balancing objects")
            for d in found["TagDescriptions"]:
                yield d["ResourceArn"], T.tag_dict(d.get("Tags"))

    def target_groups(self, app_name: str) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
        """name -> (target group, tags) for the app's target groups."""
        pages = self.clients.elbv2.get_paginator("describe_target_groups").paginate()
        groups = {g["TargetGroupArn"]: g for page in call(list, pages, action="list", what="target groups") for g in page["TargetGroups"]}
        out = {}
        for arn, tags in self._tagged(list(groups)):
            if T.owned(tags, app_name, self.clients.target):
                out[tags.get(T.NAME, groups[arn]["TargetGroupName"])] = (groups[arn], tags)
        return out

    def load_balancer(self, app_name: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        pages = self.clients.elbv2.get_paginator("describe_load_balancers").paginate()
        lbs = {b["LoadBalancerArn"]: b for page in call(list, pages, action="list", what="load balancers") for b in page["LoadBalancers"]}
        for arn, tags in self._tagged(list(lbs)):
            if T.owned(tags, app_name, self.clients.target) and tags.get(T.KIND) == "load-balancer":
                return lbs[arn], tags
        return None

    def observe(self, app_name: str) -> list[Observed]:
        out = [
            Observed("target-group", name, tags.get(T.DIGEST), service=tags.get(T.SERVICE), info={"arn": g["TargetGroupArn"]})
            for name, (g, tags) in self.target_groups(app_name).items()
        ]
        found = self.load_balancer(app_name)
        if found is not None:
            lb, tags = found
            out.append(Observed("load-balancer", tags.get(T.NAME, app_name), tags.get(T.DIGEST), info={"arn": lb["LoadBalancerArn"], "dns": lb.get("DNSName")}))
        return out

    # -- target groups -------------------------------------------------------------------

    def ensure_target_group(self, app_name: str, res: Resource, ctx: ApplyContext) -> str:
        elb = self.clients.elbv2
        spec = res.spec
        what = f"target group {res.name}"
        existing = self.target_groups(app_name).get(res.name)
        health = {
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPath": spec["health_path"],
            "HealthCheckIntervalSeconds": spec["health_interval_s"],
            "HealthyThresholdCount": spec["healthy_threshold"],
        }
        if existing is None:
            tags = T.base_tags(app_name, res.kind, res.name, res.digest, res.service, target=self.clients.target)
            created = call(
                elb.create_target_group, Name=spec["aws_name"], Protocol="HTTP", Port=spec["port"], VpcId=self.network.vpc_id(),
                TargetType="instance", Tags=T.tag_list(tags), **health, action="create", what=what,
            )
            arn = created["TargetGroups"][0]["TargetGroupArn"]
        else:
            arn = existing[0]["TargetGroupArn"]
            call(elb.modify_target_group, TargetGroupArn=arn, **health, action="update", what=what)
            call(elb.add_tags, ResourceArns=[arn], Tags=T.tag_list({T.DIGEST: res.digest}), action="tag", what=what)
        call(
            elb.modify_target_group_attributes, TargetGroupArn=arn,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(spec["deregistration_delay_s"])}],
            action="set the deregistration delay of", what=what,
        )
        ctx.progress(f"{what}: port {spec['port']}, health {spec['health_path']}")
        return arn

    def delete_target_group(self, app_name: str, name: str, ctx: ApplyContext) -> None:
        found = self.target_groups(app_name).get(name)
        if found is None:
            return
        self._delete_when_free(lambda: self.clients.elbv2.delete_target_group(TargetGroupArn=found[0]["TargetGroupArn"]), f"target group {name}", ctx)

    # -- the load balancer ---------------------------------------------------------------

    def ensure_load_balancer(self, app_name: str, res: Resource, ctx: ApplyContext) -> None:
        elb = self.clients.elbv2
        what = f"load balancer {res.spec['aws_name']}"
        found = self.load_balancer(app_name)
        if found is None:
            sg = self.groups.find(app_name, f"{app_name}-lb")
            if sg is None:
                raise TargetError(f"security group {app_name}-lb is missing, so {what} cannot be created; deploy again")
            subnets = [s.id for s in self.network.subnets()]
            tags = T.base_tags(app_name, res.kind, res.name, res.digest, target=self.clients.target)
            created = call(
                elb.create_load_balancer, Name=res.spec["aws_name"], Subnets=subnets, SecurityGroups=[sg["GroupId"]],
                Scheme=res.spec["scheme"], Type="application", IpAddressType="ipv4", Tags=T.tag_list(tags), action="create", what=what,
            )
            lb = created["LoadBalancers"][0]
            ctx.progress(f"{what}: waiting until it is active")
            waiter = elb.get_waiter("load_balancer_available")
            call(waiter.wait, LoadBalancerArns=[lb["LoadBalancerArn"]], WaiterConfig={"Delay": 5, "MaxAttempts": max(1, int(ctx.timeout // 5))}, action="wait for", what=what)
        else:
            lb = found[0]
        arn = lb["LoadBalancerArn"]
        self._sync_listeners(app_name, arn, res, what)
        call(elb.add_tags, ResourceArns=[arn], Tags=T.tag_list({T.DIGEST: res.digest}), action="tag", what=what)
        ctx.progress(f"{what}: http://{lb.get('DNSName')} ({', '.join(str(li['port']) for li in res.spec['listeners'])})")

    def _sync_listeners(self, app_name: str, lb_arn: str, res: Resource, what: str) -> None:
        elb = self.clients.elbv2
        tgs = {name: g["TargetGroupArn"] for name, (g, _) in self.target_groups(app_name).items()}
        have = {li["Port"]: li for li in call(elb.describe_listeners, LoadBalancerArn=lb_arn, action="list the listeners of", what=what)["Listeners"]}
        want = {li["port"]: li["target_group"] for li in res.spec["listeners"]}
        for port, tg_name in sorted(want.items()):
            if tg_name not in tgs:
                raise TargetError(f"target group {tg_name} is missing, so {what} cannot forward port {port} to it; deploy again")
            action = [{"Type": "forward", "TargetGroupArn": tgs[tg_name]}]
            current = have.get(port)
            if current is None:
                call(elb.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port, DefaultActions=action, action=f"add listener {port} to", what=what)
            elif [a.get("TargetGroupArn") for a in current["DefaultActions"]] != [tgs[tg_name]]:
                call(elb.modify_listener, ListenerArn=current["ListenerArn"], DefaultActions=action, action=f"update listener {port} of", what=what)
        for port, li in have.items():
            if port not in want:
                call(elb.delete_listener, ListenerArn=li["ListenerArn"], action=f"remove listener {port} from", what=what)

    def delete_load_balancer(self, app_name: str, ctx: ApplyContext) -> None:
        found = self.load_balancer(app_name)
        if found is None:
            return
        arn = found[0]["LoadBalancerArn"]
        what = f"load balancer {found[0]['LoadBalancerName']}"
        call(self.clients.elbv2.delete_load_balancer, LoadBalancerArn=arn, action="delete", what=what)
        waiter = self.clients.elbv2.get_waiter("load_balancers_deleted")
        call(waiter.wait, LoadBalancerArns=[arn], WaiterConfig={"Delay": 5, "MaxAttempts": max(1, int(ctx.timeout // 5))}, action="wait for the deletion of", what=what)

    @staticmethod
    def _delete_when_free(delete: Any, what: str, ctx: ApplyContext) -> None:
        """Retries a delete (bounded) while another object still uses the target."""
        delete_until_free(delete, what, ctx.timeout)
