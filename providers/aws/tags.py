"""The tags every AWS object of an app carries, so observe and destroy find exactly its own."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

APP = "portable:app"
TARGET = "portable:target"
KIND = "portable:kind"
NAME = "portable:name"
SERVICE = "portable:service"
REVISION = "portable:revision"
DIGEST = "portable:digest"
REPLICA = "portable:replica"
REPLICAS = "portable:replicas"


def tag_list(values: Mapping[str, str | None]) -> list[dict[str, str]]:
    """EC2/ELB style [{"Key": k, "Value": v}], skipping empty values."""
    return [{"Key": k, "Value": v} for k, v in values.items() if v is not None]


def tag_dict(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or ()}


def base_tags(app_name: str, kind: str, name: str, digest: str, service: str | None = None, *, target: str) -> dict[str, str | None]:
    return {APP: app_name, TARGET: target, KIND: kind, NAME: name, DIGEST: digest, SERVICE: service, "Name": f"{app_name}-{name}"}


def owner_filters(app_name: str, target: str) -> list[dict[str, object]]:
    """EC2 Filters selecting what belongs to the app on this target (two targets may share a region)."""
    return [{"Name": f"tag:{APP}", "Values": [app_name]}, {"Name": f"tag:{TARGET}", "Values": [target]}]


def owned(tags: dict[str, str], app_name: str, target: str) -> bool:
    return tags.get(APP) == app_name and tags.get(TARGET) == target
