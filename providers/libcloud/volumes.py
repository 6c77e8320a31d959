"""Data disks as libcloud StorageVolumes, named `pt--<app>--<disk>`, in their replica's location."""
from __future__ import annotations

import time
from typing import Any

from portable.engine import cancel
from portable.errors import InputError, TargetError
from portable.plan.resources import Observed, Resource
from portable.providers.base import ApplyContext
from portable.providers.libcloud import ec2
from portable.providers.libcloud.connect import call, created_once
from portable.providers.libcloud.naming import parse_volume_name, volume_name

KIND = "volume"


def _zone(volume: Any) -> str | None:
    return volume.extra.get("zone") or volume.extra.get("location") or None


class Volumes:
    def __init__(self, driver: Any, driver_name: str, locations: Any, owner: str, target: str) -> None:
        self.driver = driver
        self.owner = owner  # naming.owner_of(app, target)
        self.target = target
        self.driver_name = driver_name
        self.locations = locations  # callable: () -> list of NodeLocation, one per zone

    def by_disk(self, app_name: str) -> dict[str, Any]:
        vols = call(self.driver.list_volumes, action="list", what="volumes")
        out = {}
        for v in vols:
            disk = parse_volume_name(v.name, self.owner)
            if disk is not None and str(v.state) not in ("deleting", "deleted"):
                out[disk] = v
        return out

    def observe(self, app_name: str, desired: dict[str, Resource]) -> list[Observed]:
        out = []
        for disk, v in sorted(self.by_disk(app_name).items()):
            want = desired.get(f"{KIND}/{disk}")
            digest = want.digest if want is not None and int(v.size) == int(want.spec["size_gib"]) else None
            info = {"id": v.id, "size_gib": v.size, "state": str(v.state), "zone": _zone(v)}
            out.append(Observed(KIND, disk, digest, stateful=True, service=want.service if want else None, info=info))
        return out

    def ensure(self, app_name: str, res: Resource, ctx: ApplyContext) -> None:
        current = self.by_disk(app_name).get(res.name)
        size = int(res.spec["size_gib"])
        if current is not None:
            if int(current.size) != size:
                raise InputError(f"volumes: {res.spec['volume']} is {current.size} GiB on the cloud; libcloud cannot resize it to {size} GiB", hint="keep the size, or migrate the data to a new volume")
            return
        locations = self.locations()
        location = locations[int(res.spec["replica"]) % len(locations)]
        name = volume_name(self.owner, res.name)
        def made_by_an_earlier_try() -> str | None:  # its answer lost: that volume is kept, not made again
            found = self.by_disk(app_name).get(res.name)
            return str(found.id) if found is not None else None

        if self.driver_name == "ec2":
            tags = {"Name": name, "portable:app": app_name, "portable:target": self.target, "portable:kind": KIND, "portable:service": res.service or ""}
            vid = created_once(lambda: ec2.create_volume(self.driver, size, location.name, tags), made_by_an_earlier_try)
        else:
            vid = created_once(lambda: str(call(self.driver.create_volume, size, name, location=location, action="create", what=f"volume {res.name}", attempts=1).id),
                               made_by_an_earlier_try)
        self._wait_state(app_name, res.name, ("available",), ctx.timeout)
        ctx.progress(f"volume {res.name}: {vid}, {size} GiB in {location.name}")

    def _wait_state(self, app_name: str, disk: str, states: tuple[str, ...], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            v = self.by_disk(app_name).get(disk)
            if v is not None and str(v.state) in states:
                return v
            if time.monotonic() > deadline:
                raise TargetError(f"volume {disk} is {'missing' if v is None else v.state}, not {' or '.join(states)}, after {timeout:.0f}s")
            cancel.pause(2)

    def wait_attached(self, app_name: str, disks: list[str], timeout: float) -> None:
        for disk in disks:
            self._wait_state(app_name, disk, ("inuse",), timeout)

    def delete(self, app_name: str, disk: str, ctx: ApplyContext) -> None:
        if disk not in self.by_disk(app_name):
            return
        volume = self._wait_state(app_name, disk, ("available",), ctx.timeout)
        try:
            call(self.driver.destroy_volume, volume, action="delete", what=f"volume {disk}")
        except TargetError:
            if disk not in self.by_disk(app_name):
                return  # a retried delete whose first try went through (its answer was lost)
            raise
