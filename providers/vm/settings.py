"""Settings every VM target accepts (pydantic only: imported while validating manifests).

A cloud's own settings model inherits `VmSettings`, so `registry`, `instance_type(s)` and
the boot timeout mean the same thing on aws, libcloud and vsphere.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegistryLogin(BaseModel):
    """Credentials the VMs use to pull private images; the password never sits in the manifest."""

    model_config = ConfigDict(extra="forbid")

    server: str = Field(description="registry host[:port], e.g. ghcr.io or 123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    username: str = Field(description="user name to log in with")
    password_from: str = Field(
        pattern=r"^(env|file):.+$",
        description="where the password is read at apply time: env:VARIABLE or file:PATH",
    )


class VmSettings(BaseModel):
    """Fields shared by every VM target."""

    model_config = ConfigDict(extra="forbid")

    instance_type: str | None = Field(
        None, description="machine size for every service (default: the smallest size fitting `resources`)"
    )
    instance_types: dict[str, str] = Field(
        default_factory=dict, description="machine size per service name, overriding `instance_type`"
    )
    registry: RegistryLogin | None = Field(None, description="log in to this registry before pulling images")
    boot_timeout: float = Field(
        600.0, gt=0, description="seconds a new instance may take to become healthy before the rollout fails"
    )
