"""Names that carry ownership: libcloud has no portable tags, but every driver has names.

The owner is `<app>--<target>` (two targets of one app may share a cloud account), and:
`pt--<owner>--<service>--<replica>--<revision>` for instances, `pt--<owner>--<disk>` for
volumes, `pt--<owner>` for the security group (EC2). Lookups always start from a known
owner, so parsing only has to split what follows it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "pt"
_REST = re.compile(r"^(?P<service>[a-z0-9]+(?:-[a-z0-9]+)*)--(?P<replica>\d+)--(?P<revision>[0-9a-f]{12})$")


@dataclass(frozen=True)
class NodeName:
    service: str
    replica: int
    revision: str


def owner_of(app: str, target: str) -> str:
    label = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]+", "-", target.lower())).strip("-") or "target"
    return f"{app}--{label}"


def node_name(owner: str, service: str, replica: int, revision: str) -> str:
    return f"{PREFIX}--{owner}--{service}--{replica}--{revision}"


def parse_node_name(name: str | None, owner: str) -> NodeName | None:
    prefix = f"{PREFIX}--{owner}--"
    if not (name or "").startswith(prefix):
        return None
    m = _REST.fullmatch(str(name)[len(prefix):])
    return NodeName(m["service"], int(m["replica"]), m["revision"]) if m else None


def volume_name(owner: str, disk: str) -> str:
    return f"{PREFIX}--{owner}--{disk}"


def parse_volume_name(name: str | None, owner: str) -> str | None:
    prefix = f"{PREFIX}--{owner}--"
    rest = (name or "")[len(prefix):] if (name or "").startswith(prefix) else ""
    return rest if rest and "--" not in rest else None


def group_name(owner: str) -> str:
    return f"{PREFIX}--{owner}"
