"""Instance size selection: the smallest machine of a cloud's catalogue that fits a service.

The manifest says what a container needs (`resources.cpu`, `resources.memory`); a VM also
runs an OS and the container engine, so a fixed headroom is added before choosing.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from portable.errors import InputError
from portable.manifest.model import Resources

# What the OS, cloud-init and the container engine take on a small cloud image.
OS_HEADROOM_MIB = 256


@dataclass(frozen=True)
class InstanceSize:
    """One machine size a cloud offers."""

    name: str
    cpus: float
    memory_mib: int


def select_instance_size(
    resources: Resources,
    catalogue: Sequence[InstanceSize],
    *,
    explicit: str | None = None,
    field_path: str = "resources",
) -> str:
    """`explicit` when given, else the smallest catalogue entry (by memory, then cpus) that fits."""
    if explicit:
        return explicit
    if not catalogue:
        raise InputError(f"{field_path}: no instance sizes are known for this target", hint="set `instance_type` on the target")
    want_cpu = resources.cpu_cores or 0.0
    want_mib = (resources.memory_bytes or 0) / (1024 * 1024) + OS_HEADROOM_MIB
    fitting = [s for s in catalogue if s.cpus >= want_cpu and s.memory_mib >= want_mib]
    if not fitting:
        biggest = max(catalogue, key=lambda s: (s.memory_mib, s.cpus))
        raise InputError(
            f"{field_path}: no instance size offers {want_cpu:g} CPU and {want_mib:.0f} MiB "
            f"(largest known: {biggest.name}, {biggest.cpus:g} CPU, {biggest.memory_mib} MiB)",
            hint="lower the resources or set `instance_type` on the target",
        )
    return min(fitting, key=lambda s: (s.memory_mib, s.cpus, s.name)).name
