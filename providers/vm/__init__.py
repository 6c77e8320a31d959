"""The VM runtime every IaaS target shares (aws, libcloud, vsphere).

A service becomes an *instance group*: `replicas` virtual machines that each run the
service's container, started by cloud-init from user data rendered here. Clouds differ only
in how they create machines, disks and load balancers; they implement the small
`InstanceGroupBackend` protocol and reuse the rest. See README.md beside this file.
"""
from __future__ import annotations

from portable.providers.vm.bluegreen import (
    InstanceGroupBackend,
    InstanceRef,
    roll_out,
    scale,
    tear_down,
)
from portable.providers.vm.bootstrap import render_bootstrap
from portable.providers.vm.cloud_init import (
    SECRET_PLACEHOLDER,
    fit_user_data,
    render_cloud_init,
    resolve_group_secrets,
    resolve_registry_password,
)
from portable.providers.vm.group import (
    GROUP_KIND,
    VOLUME_KIND,
    DiskSpec,
    disk_name,
    group_disks,
    group_spec,
    instance_groups,
    peer_services,
    volume_resources,
)
from portable.providers.vm.sizing import InstanceSize, select_instance_size
from portable.providers.vm.user_data import instance_user_data

__all__ = [
    "GROUP_KIND",
    "SECRET_PLACEHOLDER",
    "VOLUME_KIND",
    "DiskSpec",
    "InstanceGroupBackend",
    "InstanceRef",
    "InstanceSize",
    "disk_name",
    "fit_user_data",
    "group_disks",
    "group_spec",
    "instance_groups",
    "instance_user_data",
    "peer_services",
    "render_bootstrap",
    "render_cloud_init",
    "resolve_group_secrets",
    "resolve_registry_password",
    "roll_out",
    "scale",
    "select_instance_size",
    "tear_down",
    "volume_resources",
]
