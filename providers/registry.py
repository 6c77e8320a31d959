"""Provider name -> implementation, imported lazily so the CLI starts without any cloud SDK.

Modelled on libcloud's driver registry: strings until used. A missing SDK gives the
`pip install 'portable[extra]'` to run instead of an ImportError.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from portable.errors import InputError, MissingExtraError

if TYPE_CHECKING:
    from portable.providers.base import DnsProvider, Provider


@dataclass(frozen=True)
class Entry:
    provider: str  # "module:Class" of the provider
    settings: str  # "module:Class" of its settings model (light: pydantic only)
    extra: str  # the pip extra that brings its SDK
    sdk: tuple[str, ...]  # top-level modules of that SDK
    deferred: tuple[str, ...] = ()  # modules the SDK imports eagerly but rarely uses (deferred.py)


REGISTRY: dict[str, Entry] = {
    "docker": Entry("portable.providers.docker.provider:DockerProvider", "portable.providers.docker.settings:DockerSettings", "docker", ("docker",), ("paramiko",)),
    "kubernetes": Entry("portable.providers.kubernetes.provider:KubernetesProvider", "portable.providers.kubernetes.settings:KubernetesSettings", "kubernetes", ("kubernetes",)),
    "aws": Entry("portable.providers.aws.provider:AwsProvider", "portable.providers.aws.settings:AwsSettings", "aws", ("boto3",)),
    "libcloud": Entry("portable.providers.libcloud.provider:LibcloudProvider", "portable.providers.libcloud.settings:LibcloudSettings", "libcloud", ("libcloud",)),
    "vsphere": Entry("portable.providers.vsphere.provider:VsphereProvider", "portable.providers.vsphere.settings:VsphereSettings", "vsphere", ("pyVmomi",)),
}


# DNS services a migration's cutover can switch (`--dns-provider NAME[:driver]`), each a DnsProvider
DNS: dict[str, Entry] = {
    "route53": Entry("portable.providers.aws.dns:Route53Records", "", "aws", ("boto3",)),
    "libcloud": Entry("portable.providers.libcloud.dns:LibcloudRecords", "", "libcloud", ("libcloud",)),
}


def dns_provider(spec: str) -> DnsProvider:
    """`route53` or `libcloud:<driver>` as a DnsProvider (imports its SDK now)."""
    name, _, driver = spec.partition(":")
    entry = DNS.get(name)
    if entry is None or (name == "libcloud") != bool(driver):
        raise InputError(f"unknown DNS provider {spec!r}: use route53 or libcloud:<driver>")
    cls = _import(name, entry)
    return cls(driver) if driver else cls()  # type: ignore[no-any-return]


class AnySettings(BaseModel):
    """Used while a provider has no settings model yet: accepts anything."""

    model_config = ConfigDict(extra="allow")


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _entry(name: str) -> Entry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown provider `{name}`; known: {', '.join(sorted(REGISTRY))}") from None


def settings_model(name: str) -> type[BaseModel]:
    """The pydantic model that validates a target's settings for provider `name`."""
    try:
        return _load(_entry(name).settings)  # type: ignore[no-any-return]
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("portable.providers"):
            return AnySettings
        raise


def provider_class(name: str) -> type[Provider]:
    """Imports the provider (and so its SDK) now; a missing SDK becomes install advice."""
    return _import(name, _entry(name))  # type: ignore[no-any-return]


def _import(name: str, entry: Entry) -> Any:
    from portable.providers.deferred import defer

    defer(*entry.deferred)
    try:
        for sdk in entry.sdk:  # checked here even for providers that import their SDK lazily
            importlib.import_module(sdk)
        return _load(entry.provider)  # type: ignore[no-any-return]
    except ImportError as exc:
        top = (getattr(exc, "name", None) or "").split(".")[0]
        missing = top if top in entry.sdk else next((s for s in entry.sdk if s in str(exc)), None)
        if missing:
            raise MissingExtraError(
                f"the {name} provider needs the `{missing}` package, which is not installed",
                hint=f"pip install 'portable[{entry.extra}]'",
            ) from None
        raise
