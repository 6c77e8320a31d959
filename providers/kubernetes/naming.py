"""Names, labels and annotations portable puts on Kubernetes objects, in one place.

observe/destroy find an app's objects by these labels, so translate, apply and status
must agree on them exactly.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

FIELD_MANAGER = "portable"
MANAGED_BY = "app.kubernetes.io/managed-by"
INSTANCE = "app.kubernetes.io/instance"
NAME = "app.kubernetes.io/name"
PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
SERVICE_LABEL = "portable.io/service"
TARGET_LABEL = "portable.io/target"
DIGEST = "portable.io/digest"  # the Resource digest the object was applied from
REVISION = "portable.io/revision"  # hash of the service's manifest entry (also on pods)
IMMUTABLE = "portable.io/immutable"  # hash of fields Kubernetes cannot change in place
CONFIG_DIGEST = "portable.io/config-digest"  # content of files/secrets used: rolls pods on change
SECRET_KEYS = "portable.io/secret-keys"
SECRET_SOURCE = "portable.io/secret-source"


def short_hash(data: Any, length: int = 12) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:length]


def app_selector(app: str) -> str:
    """The label selector that finds every object portable made for `app`."""
    return f"{INSTANCE}={app},{MANAGED_BY}=portable"


def selector_labels(app: str, service: str) -> dict[str, str]:
    """Pod selector of a service's workload: stable for the life of the workload."""
    return {NAME: service, INSTANCE: app}


def object_labels(app: str, service: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    labels = dict(extra or {})
    labels.update({NAME: service or app, INSTANCE: app, PART_OF: app, MANAGED_BY: "portable"})
    if service:
        labels[SERVICE_LABEL] = service
    return labels


_INVALID = re.compile(r"[^a-z0-9-]+")


def dns_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label made of `parts`; too long names keep a hash suffix to stay unique."""
    name = _INVALID.sub("-", "-".join(p for p in parts if p).lower()).strip("-")
    if len(name) > limit:
        name = name[: limit - 9].rstrip("-") + "-" + short_hash(name, 8)
    return name


def config_key(index: int, path: str) -> str:
    """A ConfigMap key for file `index` at `path` (keys allow [-._a-zA-Z0-9])."""
    base = re.sub(r"[^-._a-zA-Z0-9]+", "-", path.rsplit("/", 1)[-1]).strip("-.") or "file"
    return f"{index}-{base}"[:253]
