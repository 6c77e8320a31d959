"""Settings of a `libcloud` target (pydantic only: imported while validating manifests).

Credentials never sit here: they come from the environment (LIBCLOUD_KEY/LIBCLOUD_SECRET, or
the driver's usual variables such as AWS_ACCESS_KEY_ID) or from `credentials_file`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portable.providers.vm.settings import VmSettings
from portable.providers.vm.ssh_settings import SshSettings

SECRET_OPTION_WORDS = ("key", "secret", "password", "token", "credential")


def _no_credentials_in(value: dict[str, object]) -> dict[str, object]:
    for name in value:
        if any(word in name.lower() for word in SECRET_OPTION_WORDS):
            raise ValueError(f"`{name}` looks like a credential; credentials never go in the manifest: use the environment or `credentials_file`")
    return value


class LibcloudDnsSettings(BaseModel):
    """`targets.<name>.dns`: the DNS service of this cloud account, which a migration's cutover
    switches with `--dns-provider <name>`. The API key is read from the variable `key_env` names."""

    model_config = ConfigDict(extra="forbid")

    driver: str = Field(pattern=r"^[a-z0-9_]+$", description="libcloud DNS driver name: powerdns, route53, digitalocean, cloudflare, gandi, ...")
    options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="non-secret driver constructor arguments (powerdns: host, port, secure, api_version (default v1))"
    )
    key_env: str = Field("LIBCLOUD_DNS_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="environment variable holding the API key (or access key id)")
    secret_env: str | None = Field(
        "LIBCLOUD_DNS_SECRET", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="environment variable holding the secret, for drivers that take one (read when set)"
    )

    @field_validator("options")
    @classmethod
    def _no_credentials(cls, value: dict[str, object]) -> dict[str, object]:
        return _no_credentials_in(value)


class LibcloudSettings(VmSettings):
    """`targets.<name>` with `provider: libcloud`."""

    driver: str = Field(pattern=r"^[a-z0-9_]+$", description="libcloud compute driver name: ec2, gce, azure_arm, openstack, digitalocean, linode, ...")
    region: str | None = Field(None, description="region passed to the driver, when it takes one")
    image: str = Field(description="image id the instances boot (an Ubuntu/Debian cloud image with cloud-init)")
    locations: list[str] = Field(default_factory=list, description="zones/locations to spread replicas over (default: every one the driver lists)")
    key_name: str | None = Field(None, description="SSH key pair name, for drivers that take one; with `ssh`, the app's volumes can be exported and its writers stopped (a migration or backup source)")
    ssh: SshSettings | None = Field(
        None, description="how portable reaches the nodes over SSH to read volumes and stop writers (needs `key_name`); without it, an app with volumes cannot leave this target"
    )
    allow_secrets_in_metadata: bool = Field(
        False, description="without `ssh`, deploy an app that mounts secrets (or a target whose `registry.password_from` the nodes log in with) "
        "anyway, the values in the nodes' user data (readable through the cloud API; `plan` warns); by default refused while planning"
    )
    credentials_file: str | None = Field(
        None, description="JSON object of the driver's credential constructor arguments ({\"key\": ..., \"secret\": ...}), passed as keyword arguments; relative to the manifest"
    )
    driver_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="non-secret driver constructor arguments (host, port, secure, project, datacenter, ...)"
    )
    dns: LibcloudDnsSettings | None = Field(
        None, description="the account's DNS service (a libcloud DNS driver), switched at a migration's cutover with `--dns-provider <this target>`"
    )
    readiness: Literal["probe", "state"] = Field(
        "probe",
        description="when a new instance counts as healthy: `probe` also checks the service's http health "
        "check on the instance's public address (public ports only); `state` trusts the node state (simulators)",
    )

    @model_validator(mode="after")
    def _ssh_needs_key_pair(self) -> "LibcloudSettings":
        if self.ssh is not None and not self.key_name:
            raise ValueError("`ssh` needs `key_name` (the key pair the nodes accept the SSH key of)")
        return self

    @field_validator("driver_options")
    @classmethod
    def _no_credentials(cls, value: dict[str, object]) -> dict[str, object]:
        return _no_credentials_in(value)
