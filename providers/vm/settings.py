"""Settings every VM target accepts (pydantic only: imported while validating manifests).

A cloud's own settings model inherits `VmSettings`, so `registry`, `instance_type(s)` and
the boot timeout mean the same thing on aws, libcloud and vsphere.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from portable.delivery.settings import ImageRegistry


class RegistryLogin(ImageRegistry):
    """The registry the VMs pull from (every target's `registry` model): with `username` and
    `password_from` the instances log in before pulling; with `prefix`, `build:` services are
    built and pushed there and every image runs by digest. The password never sits in the manifest."""


def logs_in(registry: RegistryLogin | None) -> bool:
    """True when the instances log in to the registry: its password must reach them, through
    the target's secret channel (SSM, SSH, VMware Tools) like the app's secrets."""
    return registry is not None and registry.username is not None and registry.password_from is not None


class VmSettings(BaseModel):
    """Fields shared by every VM target."""

    model_config = ConfigDict(extra="forbid")

    instance_type: str | None = Field(
        None, description="machine size for every service (default: the smallest size fitting `resources`)"
    )
    instance_types: dict[str, str] = Field(
        default_factory=dict, description="machine size per service name, overriding `instance_type`"
    )
    registry: RegistryLogin | None = Field(None, description="the registry images are pulled from (logged in to with username/password_from) and, with `prefix`, pushed to")
    boot_timeout: float = Field(
        600.0, gt=0, description="seconds a new instance may take to become healthy before the rollout fails"
    )
