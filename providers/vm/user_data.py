"""The user data one instance boots with, rendered at apply time: the one call every VM
backend (aws, libcloud, vsphere) makes when it starts a machine.

It reads the group's secret values and the registry password now, so they exist only in
what is handed to the cloud, never in specs, plans or state (see `cloud_init.py`). Clouds
differ only in where disks show up (`disk_devices`), how peers are reached (`hosts`) and
the resolver search domain (`dns_search`); fitting under a size limit is the caller's
(`fit_user_data`), because each cloud has its own limit.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.vm.cloud_init import render_cloud_init, resolve_group_secrets, resolve_registry_password
from portable.providers.vm.settings import RegistryLogin, logs_in


def instance_user_data(
    app: App,
    group: Resource | Mapping[str, Any],
    *,
    replica: int,
    registry: RegistryLogin | None,
    hosts: Mapping[str, str] | None = None,
    disk_devices: Mapping[int, Sequence[str]] | None = None,
    dns_search: str | None = None,
    secret_source: Mapping[str, str] | None = None,
) -> str:
    """`#cloud-config` for replica `replica` of `group`, carrying secret values and the registry
    password (unless `secret_source` says where the instance reads them at boot, or that they
    are pushed after it boots): hand it to the cloud only, never print or store it."""
    return render_cloud_init(
        app,
        group,
        secrets=resolve_group_secrets(app, group) if secret_source is None else None,
        secret_source=secret_source,
        registry=registry,
        # with a secret channel the password arrives as the secrets do, never in the user data
        registry_password=resolve_registry_password(registry, app.base_dir, app.env) if secret_source is None and logs_in(registry) else None,
        hosts=hosts,
        disk_devices=disk_devices,
        replica=replica,
        dns_search=dns_search,
    )
