"""The targets the provider contract suite runs against, by provider name.

A new provider adds one `ContractTarget` subclass (contract_base.py says what it provides)
and one entry here; the cases in test_provider_contract.py then run against it unchanged.
"""
from __future__ import annotations

from contract_base import TARGET, ContractTarget, WrongCredentials, wait_until
from contract_clouds import AwsTarget, LibcloudTarget, VsphereTarget
from contract_engines import DockerTarget, KubernetesTarget

__all__ = ["TARGET", "TARGETS", "ContractTarget", "WrongCredentials", "wait_until"]

TARGETS: dict[str, type[ContractTarget]] = {
    t.provider: t for t in (DockerTarget, KubernetesTarget, AwsTarget, LibcloudTarget, VsphereTarget)
}
