"""EC2 instances of an instance group: the InstanceGroupBackend of the shared VM runtime.

What "healthy" means before an instance joins the load balancer depends on `readiness`:
`console` (real AWS) waits for the bootstrap's `portable: READY service=S revision=R` line in
the instance's console output, after the instance is `running` with passing status checks;
`instance` (moto and other simulators, where no guest OS runs) stops at `running` plus
status checks. Registering then waits until the load balancer reports every new target
`healthy` (its own HTTP health check of the service); either failing raises HealthCheckError
and the rollout removes the new instances while the old keep serving.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

from portable.engine import cancel
from portable.engine.retry import retry_transient
from portable.errors import HealthCheckError, TargetError
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.aws import tags as T
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.discovery import ServiceDiscovery
from portable.providers.aws.errors import call
from portable.providers.aws.loadbalancer import LoadBalancing
from portable.providers.aws.network import Network, SecurityGroups
from portable.providers.aws.volumes import Volumes
from portable.providers.base import ApplyContext
from portable.providers.vm import (
    InstanceRef,
    disk_name,
    fit_user_data,
    group_disks,
    instance_user_data,
)
from portable.providers.vm.archive_push import fed_volumes, push_archives
from portable.providers.vm.secret_push import needs_channel

UBUNTU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
USER_DATA_LIMIT = 16384


def list_instances(clients: AwsClients, app_name: str, service: str | None = None) -> list[dict[str, Any]]:
    """The app's live instances (optionally of one service)."""
    filters = [*T.owner_filters(app_name, clients.target), {"Name": "instance-state-name", "Values": LIVE_STATES}]
    if service is not None:
        filters.append({"Name": f"tag:{T.SERVICE}", "Values": [service]})
    pages = clients.ec2.get_paginator("describe_instances").paginate(Filters=filters)
    return [i for page in call(list, pages, action="list", what=f"the instances of {app_name}") for r in page["Reservations"] for i in r["Instances"]]


def as_ref(instance: dict[str, Any]) -> InstanceRef:
    tags = T.tag_dict(instance.get("Tags"))
    return InstanceRef(
        id=instance["InstanceId"],
        replica=int(tags.get(T.REPLICA, "0")),
        revision=tags.get(T.REVISION, ""),
        address=instance.get("PrivateIpAddress"),
        zone=instance.get("Placement", {}).get("AvailabilityZone"),
    )


class Ec2GroupBackend:
    """Creates, checks, registers and terminates the EC2 instances of one group."""

    def __init__(
        self, clients: AwsClients, network: Network, groups: SecurityGroups, lbs: LoadBalancing, volumes: Volumes,
        discovery: ServiceDiscovery, app: App, ctx: ApplyContext,
    ) -> None:
        self.clients = clients
        self.settings = clients.settings
        self.network = network
        self.groups = groups
        self.lbs = lbs
        self.volumes = volumes
        self.discovery = discovery
        self.app = app
        self.ctx = ctx
        self.timeout = min(ctx.timeout, clients.settings.boot_timeout)
        self.instance_profile: str | None = None  # set by the provider when the group mounts secrets
        self.secret_source: dict[str, str] | None = None  # where the bootstrap reads them (SSM)

    def _wait(self, name: str, what: str, timeout: float, delay: int = 5, **kwargs: Any) -> None:
        waiter = self.clients.ec2.get_waiter(name)
        call(waiter.wait, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(timeout // delay))}, action="wait for", what=what, **kwargs)

    def _ami(self, spec: dict[str, Any]) -> tuple[str, str]:
        """The image id and its root device name."""
        ami = self.settings.ami
        if not ami:
            found = call(self.clients.ssm.get_parameter, Name=UBUNTU_AMI_PARAMETER, action="read", what=f"the Ubuntu image id ({UBUNTU_AMI_PARAMETER})")
            ami = found["Parameter"]["Value"]
        images = call(self.clients.ec2.describe_images, ImageIds=[ami], action="find", what=f"image {ami}")["Images"]
        if not images:
            raise TargetError(f"image {ami} does not exist in {self.clients.region}", hint="set `ami` on the target to an image of this region")
        return ami, images[0].get("RootDeviceName", "/dev/sda1")

    def _user_data(self, group: Resource, replica: int, disks: dict[int, str]) -> bytes:
        devices = {i: [f"/dev/disk/by-id/*{vid.replace('-', '')}*", f"/dev/sd{chr(ord('f') + i)}", f"/dev/xvd{chr(ord('f') + i)}"] for i, vid in disks.items()}
        text = instance_user_data(
            self.app, group, replica=replica, registry=self.settings.registry,
            disk_devices=devices, dns_search=group.spec["aws"].get("dns_search"),
            secret_source=self.secret_source if needs_channel(group.spec, self.settings.registry) else None,  # secrets and registry password from SSM
        )
        return fit_user_data(text, limit=USER_DATA_LIMIT, what=f"the user data of {group.name}")

    def _run_instance(self, kwargs: dict[str, Any], tags: dict[str, str], what: str) -> str:
        """run_instances, retried only after looking for the instance a lost answer may hide.

        ClientToken makes a repeated RunInstances idempotent on AWS, but not every EC2 API honours
        it (moto does not): before each retry the instance is looked up by its tags (app, target,
        service, revision, replica), and one that is pending or running is kept instead of
        starting a second."""
        tries = 0

        @retry_transient(attempts=6, max_seconds=90.0)
        def once() -> str:
            nonlocal tries
            tries += 1
            if tries > 1:
                keys = (T.APP, T.TARGET, T.SERVICE, T.REVISION, T.REPLICA)
                filters = [{"Name": f"tag:{k}", "Values": [tags[k]]} for k in keys] + [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
                found = call(self.clients.ec2.describe_instances, Filters=filters, action="look for", what=what)
                ids = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
                if ids:
                    return str(ids[0])
            out = call(self.clients.ec2.run_instances, **kwargs, action="start", what=what, attempts=1)
            return str(out["Instances"][0]["InstanceId"])

        return once()

    def create_instances(self, group: Resource, replicas: Sequence[int]) -> list[InstanceRef]:
        spec = dict(group.spec)
        ami, root_device = self._ami(spec)
        sg = self.groups.find(self.app.name, self.app.name)
        if sg is None:
            raise TargetError(f"security group {self.app.name} is missing, so {group.name} cannot start; deploy again")
        created: list[str] = []
        attach: list[tuple[str, str, str]] = []
        attempt = uuid.uuid4().hex
        try:
            for r in replicas:
                subnet = self.network.subnet_for(r)
                disks: dict[int, str] = {}
                pending: list[tuple[str, str]] = []
                for d in group_disks(spec, r):
                    vol = self.volumes.find(self.app.name, disk_name(d.volume, r))
                    if vol is None:
                        raise TargetError(f"volume {disk_name(d.volume, r)} is missing, so {group.name} replica {r} cannot start; deploy again")
                    if vol["AvailabilityZone"] != subnet.zone:
                        raise TargetError(f"volume {disk_name(d.volume, r)} is in {vol['AvailabilityZone']} but replica {r} runs in {subnet.zone}; set `subnet_ids` so the zones match")
                    disks[d.index] = vol["VolumeId"]
                    pending.append((vol["VolumeId"], f"/dev/sd{chr(ord('f') + d.index)}"))
                tags = T.base_tags(self.app.name, "instance-group", group.name, group.digest, group.name, target=self.clients.target)
                tags.update({T.REVISION: spec["revision"], T.REPLICA: str(r), T.REPLICAS: str(spec["replicas"]), "Name": f"{self.app.name}-{group.name}-{r}"})
                kwargs: dict[str, Any] = dict(
                    ImageId=ami, InstanceType=spec["instance_size"], MinCount=1, MaxCount=1, SubnetId=subnet.id, SecurityGroupIds=[sg["GroupId"]],
                    UserData=self._user_data(group, r, disks),
                    MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
                    BlockDeviceMappings=[{"DeviceName": root_device, "Ebs": {"VolumeSize": spec["aws"]["root_volume_gib"], "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": True}}],
                    TagSpecifications=[
                        {"ResourceType": "instance", "Tags": T.tag_list(tags)},
                        {"ResourceType": "volume", "Tags": T.tag_list({T.APP: self.app.name, T.TARGET: self.clients.target, T.KIND: "root-disk", T.SERVICE: group.name})},
                    ],
                    ClientToken=hashlib.sha256(f"{group.digest}:{r}:{attempt}".encode()).hexdigest()[:64],
                )
                if self.settings.key_name:
                    kwargs["KeyName"] = self.settings.key_name
                if self.instance_profile:
                    kwargs["IamInstanceProfile"] = {"Arn": self.instance_profile}
                iid = self._run_instance(kwargs, tags, f"an instance of {group.name} ({spec['instance_size']}, {ami})")
                created.append(iid)
                attach += [(iid, vid, device) for vid, device in pending]
            self.ctx.progress(f"{group.name}: started {', '.join(created)}; waiting until running")
            self._wait("instance_running", f"instances {', '.join(created)} of {group.name}", self.timeout, InstanceIds=created)
            for iid, vid, device in attach:
                call(self.clients.ec2.attach_volume, InstanceId=iid, VolumeId=vid, Device=device, action=f"attach volume {vid} to", what=f"instance {iid}")
            if attach:
                self._wait("volume_in_use", f"the volumes of {group.name}", self.ctx.timeout, delay=3, VolumeIds=[v for _, v, _ in attach])
            if fed_volumes(self.app, group) and self.settings.ssh is not None:
                self._push_archives(group, created)
        except BaseException:
            if created:
                self.ctx.progress(f"{group.name}: could not start every instance; terminating {', '.join(created)}")
                call(self.clients.ec2.terminate_instances, InstanceIds=created, action="terminate", what=f"the new instances of {group.name}")
            raise
        found = call(self.clients.ec2.describe_instances, InstanceIds=created, action="read", what=f"instances of {group.name}")
        return [as_ref(i) for r in found["Reservations"] for i in r["Instances"]]

    def _push_archives(self, group: Resource, created: Sequence[str]) -> None:
        """A migration's archives written over SSH into the new instances while their bootstrap
        waits (providers/vm/archive_push.py): no URL, key or unsealed copy in the user data."""
        from portable.providers.vm.ssh import Host, SshChannel
        from portable.providers.vm.ssh_settings import ssh_roles

        ssh_roles("aws")  # paramiko, or the `pip install` to run
        assert self.settings.ssh is not None
        channel = SshChannel(self.clients.target, self.settings.ssh, self.settings.key_name, self.app.base_dir)
        found = call(self.clients.ec2.describe_instances, InstanceIds=list(created), action="read", what=f"instances of {group.name}")

        def console(iid: str) -> str:
            out = call(self.clients.ec2.get_console_output, InstanceId=iid, action="read the console of", what=f"instance {iid}")
            return str(out.get("Output") or "")

        hosts = [Host(i["InstanceId"], group.name, int(T.tag_dict(i.get("Tags")).get(T.REPLICA, "0")), i.get("PublicIpAddress"), i.get("PrivateIpAddress"),
                      console=lambda iid=i["InstanceId"]: console(iid))
                 for r in found["Reservations"] for i in r["Instances"]]
        push_archives(channel, self.app, group, hosts, timeout=self.timeout, pause=cancel.pause, progress=self.ctx.progress)

    def wait_healthy(self, group: Resource, instances: Sequence[InstanceRef], timeout: float) -> None:
        ids = [i.id for i in instances]
        what = f"instances {', '.join(ids)} of {group.name}"
        try:
            self._wait("instance_running", what, timeout, InstanceIds=ids)
            self._wait("instance_status_ok", what, timeout, InstanceIds=ids)
        except TargetError as exc:
            raise HealthCheckError(f"{group.name}: new instances did not start", details=exc.message) from None
        if self.settings.readiness == "console":
            deadline = time.monotonic() + timeout  # one budget for the whole group
            for ref in instances:
                self._wait_console_ready(group, ref, max(1.0, deadline - time.monotonic()))

    def _wait_console_ready(self, group: Resource, ref: InstanceRef, timeout: float) -> None:
        ready = f"portable: READY service={group.name} revision={group.spec['revision']}"
        failed = f"portable: FAILED service={group.name} revision={group.spec['revision']}"
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            out = call(self.clients.ec2.get_console_output, InstanceId=ref.id, Latest=True, action="read the console of", what=f"instance {ref.id}")
            text = out.get("Output") or ""
            if ready in text:
                return
            if failed in text:
                break
            cancel.pause(max(0.5, min(10.0, deadline - time.monotonic())))
        tail = "\n".join(line for line in text.splitlines() if "portable:" in line)[-2000:]
        raise HealthCheckError(f"{group.name}: instance {ref.id} did not report ready within {timeout:.0f}s", details=tail or "(no output from the bootstrap yet)")

    def _target_groups(self, group: Resource) -> list[tuple[str, int]]:
        """(arn, port) of the service's target groups, found by tag (works for deletes without a spec too)."""
        found = {name: g for name, (g, tags) in self.lbs.target_groups(self.app.name).items() if tags.get(T.SERVICE) == group.name}
        missing = [n for n in group.spec.get("aws", {}).get("target_groups", []) if n not in found]
        if missing:
            raise TargetError(f"target group {missing[0]} is missing, so {group.name} cannot join the load balancer; deploy again")
        return [(g["TargetGroupArn"], int(g["Port"])) for _, g in sorted(found.items())]

    def _publish(self, group: Resource) -> None:
        """The service's DNS record lists its live instances (new ones once they serve, old until gone)."""
        live = [i.get("PrivateIpAddress") for i in list_instances(self.clients, self.app.name, group.name) if i["State"]["Name"] in ("pending", "running")]
        self.discovery.publish(self.app.name, group.name, [a for a in live if a])

    def register_with_lb(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        self._register(group, instances)
        self._publish(group)

    def _register(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        elb = self.clients.elbv2
        for arn, port in self._target_groups(group):
            targets = [{"Id": i.id, "Port": port} for i in instances]
            call(elb.register_targets, TargetGroupArn=arn, Targets=targets, action="register instances with", what=f"the target group of {group.name}")
            self._wait_targets_healthy(group, arn, targets)
        if instances and group.spec.get("aws", {}).get("target_groups"):
            self.ctx.progress(f"{group.name}: {', '.join(i.id for i in instances)} registered and healthy behind the load balancer")

    def _wait_targets_healthy(self, group: Resource, arn: str, targets: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + self.timeout
        states: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            found = call(self.clients.elbv2.describe_target_health, TargetGroupArn=arn, Targets=targets, action="read the target health of", what=group.name)
            states = {d["Target"]["Id"]: d["TargetHealth"] for d in found["TargetHealthDescriptions"]}
            if states and all(s.get("State") == "healthy" for s in states.values()):
                return
            cancel.pause(5)
        details = "\n".join(f"{iid}: {s.get('State')} {s.get('Reason', '')} {s.get('Description', '')}".rstrip() for iid, s in sorted(states.items()))
        raise HealthCheckError(f"{group.name}: the load balancer did not report the new instances healthy within {self.timeout:.0f}s", details=details)

    def deregister(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        if not instances:
            return
        elb = self.clients.elbv2
        ids = {i.id for i in instances}
        for arn, _port in self._target_groups(group):
            found = call(elb.describe_target_health, TargetGroupArn=arn, action="read the targets of", what=f"the target group of {group.name}")
            targets = [d["Target"] for d in found["TargetHealthDescriptions"] if d["Target"]["Id"] in ids]
            if not targets:
                continue
            call(elb.deregister_targets, TargetGroupArn=arn, Targets=targets, action="deregister instances from", what=f"the target group of {group.name}")
            waiter = elb.get_waiter("target_deregistered")
            call(waiter.wait, TargetGroupArn=arn, Targets=targets, WaiterConfig={"Delay": 5, "MaxAttempts": max(1, int(self.ctx.timeout // 5))}, action="wait for the deregistration from", what=f"the target group of {group.name}")

    def terminate(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        if not instances:
            return
        ids = [i.id for i in instances]
        call(self.clients.ec2.terminate_instances, InstanceIds=ids, action="terminate", what=f"instances {', '.join(ids)} of {group.name}")
        self._wait("instance_terminated", f"the termination of {', '.join(ids)}", self.ctx.timeout, InstanceIds=ids)
        self._publish(group)

    def mark_current(self, group: Resource, instances: Sequence[InstanceRef]) -> None:
        if instances:
            tags = {T.DIGEST: group.digest, T.REPLICAS: str(group.spec["replicas"])}
            call(self.clients.ec2.create_tags, Resources=[i.id for i in instances], Tags=T.tag_list(tags), action="tag", what=f"the instances of {group.name}")
