"""The `ssh` setting of the VM targets whose data is reached over SSH (aws, libcloud).

Pydantic only (imported while validating manifests). No password or key material is ever
accepted here: the key comes from `key_file` (a path) or from an SSH agent, and the host
keys are checked (console output where the cloud prints them, else trust on first use).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from portable.errors import MissingExtraError


class SshSettings(BaseModel):
    """`targets.<name>.ssh`: how portable reaches the instances to read and quiesce their volumes."""

    model_config = ConfigDict(extra="forbid")

    address: Literal["public", "private"] = Field(
        "public",
        description="which instance address to connect to: `public`, or `private` for hybrid setups reached over a VPN / Direct Connect (or through `bastion`)",
    )
    user: str = Field("ubuntu", pattern=r"^[a-z_][a-z0-9_.-]{0,31}$", description="login user the image's cloud-init installs the key pair for (ubuntu on Ubuntu images, admin on Debian)")
    key_file: str | None = Field(
        None,
        description="private key of the key pair (path, relative to the manifest); default: the keys of the SSH agent at SSH_AUTH_SOCK",
    )
    port: int = Field(22, ge=1, le=65535, description="SSH port of the instances")
    bastion: str | None = Field(
        None,
        pattern=r"^([a-z_][a-z0-9_.-]{0,31}@)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
        description="jump host `[user@]host[:port]` the connections go through (default user: `user`); its host key is trusted on first use",
    )
    connect_timeout: float = Field(10.0, gt=0, le=300, description="seconds to wait for an instance's SSH server to answer")


def ssh_roles(extra: str) -> Any:
    """The SSH data roles module (providers/vm/ssh_data.py), imported now: paramiko is loaded
    only when a target's data is actually read over SSH. A missing paramiko is the
    `pip install 'portable[<extra>]'` to run, said for the provider that needs it."""
    try:
        from portable.providers.vm import ssh_data
    except ImportError as exc:
        if (exc.name or "").startswith("paramiko"):
            raise MissingExtraError("reading volumes over SSH needs the `paramiko` package, which is not installed", hint=f"pip install 'portable[{extra}]'") from None
        raise
    return ssh_data
