"""What each libcloud compute driver can do for portable, declared rather than discovered.

The compute API has no load balancer (libcloud keeps those in a separate API), so no driver
declares LOAD_BALANCER: an app with several replicas behind one public port is refused at
plan time with the field that asks for it. Drivers not listed get a conservative default.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from portable.providers.base import Capability
from portable.providers.vm import InstanceSize

C = Capability
UserDataArgs = Callable[[str], dict[str, Any]]
AfterCreate = Callable[[Any, Any, "str | bytes"], None]  # (driver, node, user data): a driver without a user-data argument
FindImage = Callable[[Any, str], Any]  # (driver, image): a driver without get_image


@dataclass(frozen=True)
class DriverProfile:
    """One driver's declared abilities and calling conventions."""

    name: str
    capabilities: frozenset[Capability]
    key_env: tuple[str, ...] = ()  # environment variables holding the key (after LIBCLOUD_KEY)
    secret_env: tuple[str, ...] = ()  # ... and the secret (after LIBCLOUD_SECRET)
    user_data: UserDataArgs = lambda text: {"ex_userdata": text}
    catalogue: tuple[InstanceSize, ...] = ()  # sizes to choose from; empty: `instance_type` required
    firewall: bool = False  # manages a security group per app (EC2 through its ex_* calls)
    user_data_limit: int = 16384
    notes: tuple[str, ...] = field(default_factory=tuple)
    credential_kwargs: tuple[str, str] | None = None  # constructor keywords of key and secret (default: positional)
    after_create: AfterCreate | None = None  # delivers the user data when create_node cannot
    find_image: FindImage | None = None  # finds the image when the driver has no get_image
    address: str = "public_ips"  # the node addresses wait_until_running waits for (libcloud's ssh_interface)


COMPUTE = frozenset({C.PUBLIC_HTTP, C.PUBLIC_TCP})
WITH_DISKS = COMPUTE | {C.VOLUMES}

EC2_SIZES = (
    InstanceSize("t3.nano", 2, 512), InstanceSize("t3.micro", 2, 1024), InstanceSize("t3.small", 2, 2048),
    InstanceSize("t3.medium", 2, 4096), InstanceSize("t3.large", 2, 8192), InstanceSize("t3.xlarge", 4, 16384),
    InstanceSize("t3.2xlarge", 8, 32768),
)

def _vsphere_after_create(driver: Any, node: Any, user_data: str | bytes) -> None:
    from portable.providers.libcloud import vsphere  # imported when used: vsphere.py imports connect, which imports this

    vsphere.deliver_user_data(driver, node, user_data)


def _vsphere_find_image(driver: Any, image: str) -> Any:
    from portable.providers.libcloud import vsphere

    return vsphere.find_image(driver, image)


# a vSphere VM takes any CPU count and memory size: portable picks the smallest that fits
VSPHERE_SIZES = (
    InstanceSize("1cpu-1gb", 1, 1024), InstanceSize("1cpu-2gb", 1, 2048), InstanceSize("2cpu-4gb", 2, 4096),
    InstanceSize("4cpu-8gb", 4, 8192), InstanceSize("8cpu-16gb", 8, 16384),
)

PROFILES: dict[str, DriverProfile] = {
    "ec2": DriverProfile(
        "ec2", WITH_DISKS, ("AWS_ACCESS_KEY_ID",), ("AWS_SECRET_ACCESS_KEY",), catalogue=EC2_SIZES, firewall=True,
        notes=("IMDSv2 is required through ModifyInstanceMetadataOptions after launch",),
    ),
    "gce": DriverProfile(
        "gce", WITH_DISKS, ("GCE_SERVICE_ACCOUNT",), ("GOOGLE_APPLICATION_CREDENTIALS",),
        user_data=lambda text: {"ex_metadata": {"user-data": text}}, user_data_limit=256 * 1024,
        catalogue=(InstanceSize("e2-micro", 2, 1024), InstanceSize("e2-small", 2, 2048), InstanceSize("e2-medium", 2, 4096),
                   InstanceSize("e2-standard-2", 2, 8192), InstanceSize("e2-standard-4", 4, 16384)),
    ),
    "azure_arm": DriverProfile(
        "azure_arm", WITH_DISKS, ("AZURE_CLIENT_ID",), ("AZURE_CLIENT_SECRET",),
        user_data=lambda text: {"ex_customdata": text}, user_data_limit=64 * 1024,
    ),
    "openstack": DriverProfile("openstack", WITH_DISKS, ("OS_USERNAME",), ("OS_PASSWORD",), user_data_limit=64 * 1024),
    "digitalocean": DriverProfile(
        "digitalocean", WITH_DISKS, ("DIGITALOCEAN_ACCESS_TOKEN",), (), user_data=lambda text: {"ex_user_data": text}, user_data_limit=64 * 1024,
        catalogue=(InstanceSize("s-1vcpu-1gb", 1, 1024), InstanceSize("s-1vcpu-2gb", 1, 2048), InstanceSize("s-2vcpu-4gb", 2, 4096),
                   InstanceSize("s-4vcpu-8gb", 4, 8192)),
    ),
    # libcloud's VSphereNodeDriver(host, username, password, port, ca_cert, verify_ssl): clones a
    # template; no volume, firewall or user-data API (user data goes through guestinfo: vsphere.py)
    "vsphere": DriverProfile(
        "vsphere", COMPUTE, ("VSPHERE_USER",), ("VSPHERE_PASSWORD",), user_data=lambda text: {},
        catalogue=VSPHERE_SIZES, user_data_limit=64 * 1024, credential_kwargs=("username", "password"),
        after_create=_vsphere_after_create, find_image=_vsphere_find_image, address="private_ips",
        notes=("user data is set as guestinfo.userdata after the clone, then the VM is reset",
               "the template needs cloud-init with its VMware datasource, and VMware Tools to report an address"),
    ),
    "linode": DriverProfile(
        "linode", WITH_DISKS, ("LINODE_TOKEN",), (), user_data_limit=64 * 1024,
        catalogue=(InstanceSize("g6-nanode-1", 1, 1024), InstanceSize("g6-standard-1", 1, 2048), InstanceSize("g6-standard-2", 2, 4096),
                   InstanceSize("g6-standard-4", 4, 8192)),
    ),
}


def profile_for(driver: str) -> DriverProfile:
    """The declared profile of `driver`; unknown drivers may run instances, nothing more."""
    return PROFILES.get(driver, DriverProfile(driver, COMPUTE, notes=("no declared profile: volumes and firewall rules are not managed",)))
