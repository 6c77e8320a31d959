"""Settings of an `aws` target (pydantic only: imported while validating manifests, no boto3).

Credentials never appear here: boto3's standard chain finds them (environment, profiles,
SSO, instance roles). The region comes from `region` or the AWS config.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from portable.providers.vm.settings import VmSettings
from portable.providers.vm.ssh_settings import SshSettings


class AwsSettings(VmSettings):
    """`targets.<name>` with `provider: aws`."""

    region: str | None = Field(None, description="AWS region (default: AWS_REGION / the profile's region)")
    profile: str | None = Field(None, description="named profile from ~/.aws/config (default: the standard chain)")
    vpc_id: str | None = Field(None, description="VPC to use (default: the region's default VPC)")
    subnet_ids: list[str] = Field(
        default_factory=list, description="subnets to spread instances over (default: the VPC's default-for-az subnets)"
    )
    ami: str | None = Field(
        None,
        description="machine image for the instances; default: the current Ubuntu 24.04 image, "
        "read from Canonical's public SSM parameter at apply time",
    )
    key_name: str | None = Field(None, description="EC2 key pair to allow SSH with (default: none); with `ssh`, the app's volumes can be exported and its writers stopped (a migration or backup source)")
    ssh: SshSettings | None = Field(
        None, description="how portable reaches the instances over SSH to read volumes and stop writers (needs `key_name`); without it, an app with volumes cannot leave this target"
    )
    domain: str | None = Field(None, description="DNS name to point at the load balancer (needs hosted_zone)")
    hosted_zone: str | None = Field(None, description="Route 53 hosted zone id or name holding `domain`")
    root_volume_gib: int = Field(16, ge=8, le=1024, description="size of each instance's root disk")
    readiness: Literal["console", "instance"] = Field(
        "console",
        description="when a new instance counts as healthy before it joins the load balancer: "
        "`console` waits for the bootstrap's READY line in the console output (real AWS); "
        "`instance` trusts the instance state and status checks only (simulators, where no guest runs)",
    )
    endpoint_url: str | None = Field(None, description="send every AWS call here (tests: the moto server)")

    @model_validator(mode="after")
    def _domain_needs_zone(self) -> "AwsSettings":
        if self.domain and not self.hosted_zone:
            raise ValueError("`domain` needs `hosted_zone` (the Route 53 zone that holds it)")
        return self

    @model_validator(mode="after")
    def _ssh_needs_key_pair(self) -> "AwsSettings":
        if self.ssh is not None and not self.key_name:
            raise ValueError("`ssh` needs `key_name` (the EC2 key pair the instances accept the SSH key of)")
        return self
