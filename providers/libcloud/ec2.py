"""EC2-only calls made through libcloud's own signed connection.

Used where libcloud's EC2 helpers fall short: CreateTags/CreateVolume with the 1-based list
indices the EC2 query API documents (libcloud sends `Tag.0`, which AWS tolerates and moto
refuses), and ModifyInstanceMetadataOptions (IMDSv2), which libcloud does not wrap.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portable.providers.libcloud.connect import call

NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"


def _request(driver: Any, params: dict[str, str], action: str, what: str, attempts: int = 8) -> Any:
    return call(lambda: driver.connection.request(driver.path, params=params).object, action=action, what=what, attempts=attempts)


def tag_params(tags: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    out = {}
    for i, (k, v) in enumerate(sorted(tags.items()), start=1):
        out[f"{prefix}Tag.{i}.Key"] = k
        out[f"{prefix}Tag.{i}.Value"] = v
    return out


def create_tags(driver: Any, resource_id: str, tags: Mapping[str, str]) -> None:
    params = {"Action": "CreateTags", "ResourceId.1": resource_id, **tag_params(tags)}
    _request(driver, params, "tag", resource_id)


def create_volume(driver: Any, size_gib: int, zone: str, tags: Mapping[str, str]) -> str:
    """Creates an encrypted gp3 volume tagged at creation; returns its id. One request, not
    retried here: the caller looks for the volume a lost answer may hide first (connect.created_once)."""
    params = {
        "Action": "CreateVolume", "Size": str(size_gib), "AvailabilityZone": zone, "VolumeType": "gp3", "Encrypted": "true",
        "TagSpecification.1.ResourceType": "volume", **tag_params(tags, "TagSpecification.1."),
    }
    obj = _request(driver, params, "create", f"volume {tags.get('Name')}", attempts=1)
    return str(obj.findtext(f"{NS}volumeId"))


def require_imdsv2(driver: Any, instance_id: str) -> None:
    params = {"Action": "ModifyInstanceMetadataOptions", "InstanceId": instance_id, "HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": "1"}
    _request(driver, params, "require IMDSv2 on", f"instance {instance_id}")


def default_subnets(driver: Any) -> dict[str, Any]:
    """zone -> the default subnet of that zone (instances with security group ids need one)."""
    subnets = call(driver.ex_list_subnets, filters={"default-for-az": "true"}, action="list", what="the default subnets")
    return {s.extra["zone"]: s for s in sorted(subnets, key=lambda s: s.id)}
