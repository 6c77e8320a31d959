"""What the provider contract suite needs from a target, and helpers the targets share.

A `ContractTarget` says how target `ct` of a manifest reaches one lab component (the settings
a user would write, and the environment the CLI runs with), and reads what exists there for
an app through the target's *own* API: the docker SDK, the kubernetes client, boto3 against
moto, pyVmomi against vcsim. portable's code is never used to look, so the suite checks what
a user of the target would see, not what portable believes.
"""
from __future__ import annotations

import base64
import gzip
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
# helpers the per-provider suites already have (module names are unique across tests/)
sys.path.insert(0, str(HERE.parent / "libcloud"))
sys.path.insert(0, str(HERE.parent / "vsphere"))

TARGET = "ct"  # the target's name in every manifest of the suite
MOTO_UBUNTU_AMI = "ami-1e749f67"  # one of moto's built-in images


@dataclass(frozen=True)
class WrongCredentials:
    """A way to hand the target credentials it refuses (or cannot use), and what the one
    sentence about it must name: where the credentials came from."""

    settings: dict[str, Any]  # the target's settings with the bad credential source
    env: dict[str, str]  # the CLI's environment (replaces `ContractTarget.env()`)
    names: tuple[str, ...]  # words the error must contain (variables, files, settings)
    secret: str | None = None  # a wrong secret value that must never be printed


class ContractTarget:
    """One provider on the lab. Subclasses fill in every method."""

    provider: ClassVar[str]
    components: ClassVar[tuple[str, ...]]  # lab components it needs (conftest's lab.require)

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        self.lab_env = lab_env
        self.tmp = tmp

    def settings(self, app: str) -> dict[str, Any]:
        """Target `ct`'s settings in the manifest of `app`."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The environment `portable` runs with (credentials the way users pass them)."""
        return dict(os.environ)

    def objects(self, app: str) -> dict[str, list[str]]:
        """Everything on the target labelled, tagged or named for `app`, by kind."""
        raise NotImplementedError

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        """The environment of each live instance of `service` (containers, pods, VMs)."""
        raise NotImplementedError

    def wrong_credentials(self, app: str) -> WrongCredentials:
        raise NotImplementedError

    def close(self, apps: list[str]) -> None:
        """Removes what the suite left (after portable's own destroy was tried)."""


def bootstrap_env(user_data: str) -> dict[str, str]:
    """`-e NAME=value` arguments of the `docker run` the VM bootstrap starts the service with."""
    out: dict[str, str] = {}
    for m in re.finditer(r"(?:^|\s)-e ('(?:[^']|'\"'\"')*'|\S+)", user_data):
        name, _, value = shlex.split(m.group(1))[0].partition("=")
        out[name] = value
    return out


def ec2_user_data(ec2: Any, instance_id: str) -> str:
    """The user data an EC2 instance was started with, as text (gunzipped when needed)."""
    raw = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"].get("Value", "")
    data = base64.b64decode(raw)
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode(errors="replace")


def tags(obj: dict[str, Any]) -> dict[str, str]:
    """EC2/ELB `Tags` as a dict."""
    return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 1.0) -> bool:
    """Polls `check` until it holds or `timeout` seconds passed (targets settle asynchronously:
    kwok deletes pods after their workload, EC2 instances pass through shutting-down)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)

