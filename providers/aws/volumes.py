"""EBS volumes for the manifest's volumes: one per (volume, replica), in its replica's zone.

Stateful: observed as such, so the engine keeps them unless `destroy --volumes`. They are
created empty; the instance's bootstrap formats them on first use only.
"""
from __future__ import annotations

import time
from typing import Any

from portable.engine import cancel
from portable.errors import InputError, TargetError
from portable.plan.resources import Observed, Resource
from portable.providers.aws import tags as T
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.errors import call
from portable.providers.aws.network import Network
from portable.providers.base import ApplyContext

KIND = "volume"


class Volumes:
    def __init__(self, clients: AwsClients, network: Network) -> None:
        self.clients = clients
        self.network = network

    def _list(self, app_name: str, name: str | None = None) -> list[dict[str, Any]]:
        filters = [*T.owner_filters(app_name, self.clients.target), {"Name": f"tag:{T.KIND}", "Values": [KIND]}]
        if name is not None:
            filters.append({"Name": f"tag:{T.NAME}", "Values": [name]})
        found = call(self.clients.ec2.describe_volumes, Filters=filters, action="list", what=f"the volumes of {app_name}")
        return [v for v in found["Volumes"] if v["State"] not in ("deleting", "deleted")]

    def find(self, app_name: str, name: str) -> dict[str, Any] | None:
        found = self._list(app_name, name)
        return found[0] if found else None

    def observe(self, app_name: str) -> list[Observed]:
        out = []
        for v in self._list(app_name):
            tags = T.tag_dict(v.get("Tags"))
            attached = [a["InstanceId"] for a in v.get("Attachments", []) if a.get("State") in ("attaching", "attached")]
            info = {"id": v["VolumeId"], "zone": v["AvailabilityZone"], "size_gib": v["Size"], "state": v["State"], "attached_to": attached}
            out.append(Observed(KIND, tags.get(T.NAME, v["VolumeId"]), tags.get(T.DIGEST), stateful=True, service=tags.get(T.SERVICE), info=info))
        return out

    def ensure(self, app_name: str, res: Resource, ctx: ApplyContext) -> str:
        ec2 = self.clients.ec2
        what = f"volume {res.name}"
        current = self.find(app_name, res.name)
        size = int(res.spec["size_gib"])
        if current is None:
            zone = self.network.subnet_for(int(res.spec["replica"])).zone
            tags = T.base_tags(app_name, KIND, res.name, res.digest, res.service, target=self.clients.target)
            created = call(
                ec2.create_volume, AvailabilityZone=zone, Size=size, VolumeType=res.spec["volume_type"], Encrypted=True,
                TagSpecifications=[{"ResourceType": "volume", "Tags": T.tag_list(tags)}], action="create", what=what,
            )
            vid = created["VolumeId"]
            waiter = ec2.get_waiter("volume_available")
            call(waiter.wait, VolumeIds=[vid], WaiterConfig={"Delay": 3, "MaxAttempts": max(1, int(ctx.timeout // 3))}, action="wait for", what=what)
            ctx.progress(f"{what}: {vid}, {size} GiB in {zone}")
            return vid
        vid = current["VolumeId"]
        if size < current["Size"]:
            raise InputError(
                f"volumes: {res.spec['volume']} cannot shrink from {current['Size']} GiB to {size} GiB on EBS",
                hint="keep the size, or migrate the data to a new volume",
            )
        if size > current["Size"]:
            call(ec2.modify_volume, VolumeId=vid, Size=size, action="grow", what=what)
            ctx.progress(f"{what}: growing to {size} GiB (the filesystem grows on the next boot of its instance)")
        call(ec2.create_tags, Resources=[vid], Tags=T.tag_list({T.DIGEST: res.digest}), action="tag", what=what)
        return vid

    def delete(self, app_name: str, name: str, ctx: ApplyContext) -> None:
        """Deletes the volume once no instance holds it (waits, bounded, for termination)."""
        deadline = time.monotonic() + ctx.timeout
        while True:
            current = self.find(app_name, name)
            if current is None:
                return
            if current["State"] == "available":
                call(self.clients.ec2.delete_volume, VolumeId=current["VolumeId"], action="delete", what=f"volume {name}")
                return
            if time.monotonic() > deadline:
                raise TargetError(f"volume {name} ({current['VolumeId']}) is still {current['State']} after {ctx.timeout:.0f}s; it was not deleted")
            cancel.pause(3)
