"""Settings of a `provider: vsphere` target, validated with the manifest (pydantic only).

Credentials never live in the manifest: the user name and password are read at connect
time from environment variables (named here) or from a credentials file.
"""
from __future__ import annotations

import re

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from portable.providers.vm.settings import VmSettings

SIZE_PATTERN = r"^[1-9][0-9]*x[1-9][0-9]*$"


class VsphereSettings(VmSettings):
    """Where on vCenter the app's VMs go and how to log in.

    From VmSettings: `registry`, `boot_timeout` (seconds a new VM may take to report its IP),
    and `instance_type` / `instance_types`, which on vSphere read `CPUSxMEMORY_MIB`, e.g. `2x4096`.
    """

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, description="vCenter (or ESXi) host name or address")
    port: int = Field(443, ge=1, le=65535, description="HTTPS port of the vSphere API")
    insecure: bool = Field(
        False, description="skip TLS certificate verification (only for labs and self-signed vCenters)"
    )
    ca_file: str | None = Field(None, description="PEM bundle to verify vCenter's certificate with")
    user_env: str = Field("VSPHERE_USER", description="environment variable holding the user name")
    password_env: str = Field("VSPHERE_PASSWORD", description="environment variable holding the password")
    credentials_file: str | None = Field(
        None,
        description="file with `user=...` and `password=...` lines (or a JSON object with user and "
        "password), used when the environment variables are not set; `~` is expanded",
    )
    datacenter: str | None = Field(None, description="datacenter name (default: the only one)")
    cluster: str | None = Field(None, description="cluster to run the VMs in (or set `esx_host`)")
    esx_host: str | None = Field(None, description="standalone or cluster host to run the VMs on")
    resource_pool: str | None = Field(
        None, description="resource pool path under the cluster/host, e.g. `apps/web` (default: its root pool)"
    )
    folder: str | None = Field(None, description="VM folder path under the datacenter's VM folder")
    datastore: str | None = Field(None, description="datastore for VMs and data disks (default: the template's)")
    network: str | None = Field(
        None, description="port group or distributed port group for the VMs' first NIC (default: the template's)"
    )
    template: str = Field(min_length=1, description="VM template (name or inventory path) to clone")
    linked_clone: bool = Field(
        True, description="clone as linked clones when the template has a snapshot"
    )
    readiness: Literal["guest", "ip"] = Field(
        "guest",
        description="`guest`: wait until the VM reports its service ready through guestinfo (needs "
        "open-vm-tools and cloud-init's VMware datasource in the template); `ip`: only until it has an address",
    )
    proxy_image: str = Field(
        "basecamp/kamal-proxy:v0.9.2",
        description="kamal-proxy image of the front proxy VM each public http service gets",
    )
    proxy_size: str = Field("1x1024", pattern=SIZE_PATTERN, description="CPUSxMEMORY_MIB of each front proxy VM")
    extra_config: dict[str, str] = Field(
        default_factory=dict,
        description="advanced settings added to every service VM's extraConfig (e.g. `disk.EnableUUID: \"TRUE\"`); "
        "portable's own `guestinfo.*` keys cannot be set here",
    )
    guest_user_env: str = Field(
        "VSPHERE_GUEST_USER",
        description="environment variable holding the guest OS account VMware Tools runs commands as "
        "(reading volumes for migrate and backup, writing secrets into the guest)",
    )
    guest_password_env: str = Field("VSPHERE_GUEST_PASSWORD", description="environment variable holding that account's password")
    allow_secrets_in_metadata: bool = Field(
        False, description="without the guest account, deploy an app that mounts secrets (or a target whose `registry.password_from` the VMs log in with) "
        "anyway, the values in guestinfo (the VMs' extraConfig, readable through the vSphere API; `plan` warns); by default refused while planning"
    )
    cpus: int = Field(1, ge=1, le=768, description="vCPUs when a service sets no `resources.cpu`")
    memory_mb: int = Field(1024, ge=4, description="memory (MiB) when a service sets no `resources.memory`")

    @model_validator(mode="after")
    def _one_compute_place(self) -> "VsphereSettings":
        if self.cluster and self.esx_host:
            raise ValueError("set `cluster` or `esx_host`, not both")
        reserved = sorted(k for k in self.extra_config if k.lower().startswith("guestinfo."))
        if reserved:
            raise ValueError(f"extra_config: {', '.join(reserved)}: `guestinfo.*` keys carry portable's user data and status; choose other keys")
        if self.insecure and self.ca_file:
            raise ValueError("`insecure: true` and `ca_file` contradict each other; keep one")
        for where, size in [("instance_type", self.instance_type), *((f"instance_types.{k}", v) for k, v in self.instance_types.items())]:
            if size is not None and not re.fullmatch(SIZE_PATTERN, size):
                raise ValueError(f"{where}: `{size}` is not CPUSxMEMORY_MIB (e.g. 2x4096) as vSphere sizes VMs")
        return self
