"""Names that carry ownership: libcloud has no portable tags, but every driver has names.

`pt--<app>--<service>--<replica>--<revision>` for instances, `pt--<app>--<disk>` for volumes
and `pt--<app>` for the security group (EC2). Double hyphens cannot occur inside app,
service or volume names (DNS labels with single hyphens), so parsing is exact.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "pt"
_NODE = re.compile(r"^pt--(?P<app>[a-z0-9-]+?)--(?P<service>[a-z0-9-]+?)--(?P<replica>\d+)--(?P<revision>[0-9a-f]{12})$")
_VOLUME = re.compile(r"^pt--(?P<app>[a-z0-9-]+?)--(?P<disk>[a-z0-9_.-]+)$")


@dataclass(frozen=True)
class NodeName:
    app: str
    service: str
    replica: int
    revision: str


def node_name(app: str, service: str, replica: int, revision: str) -> str:
    return f"{PREFIX}--{app}--{service}--{replica}--{revision}"


def parse_node_name(name: str | None) -> NodeName | None:
    m = _NODE.match(name or "")
    if not m or "--" in m["app"] or "--" in m["service"]:
        return None
    return NodeName(m["app"], m["service"], int(m["replica"]), m["revision"])


def volume_name(app: str, disk: str) -> str:
    return f"{PREFIX}--{app}--{disk}"


def parse_volume_name(name: str | None, app: str) -> str | None:
    m = _VOLUME.match(name or "")
    return m["disk"] if m and m["app"] == app else None


def group_name(app: str) -> str:
    return f"{PREFIX}--{app}"
