"""What a service's `security:` becomes at the container runtime, the same for every target.

Docker run flags, the VM runtime's `docker run` line and Kubernetes' securityContext all
come from this one dict, so "hardened by default" means the same everywhere: every
capability dropped except the ones the service names (NET_BIND_SERVICE added when it
listens below 1024), no new privileges, the runtime's default seccomp profile, and a
read-only root when the manifest asks.
"""
from __future__ import annotations

from typing import Any

from portable.manifest.model import Service


def runtime_security(svc: Service) -> dict[str, Any]:
    """The service's container security as plain JSON (part of each target's spec)."""
    sec = svc.security
    # privileged means every capability: lists beside it would only mislead a reader
    add, drop = ([], []) if sec.privileged else sec.effective_capabilities([p.port for p in svc.ports])
    return {
        "privileged": sec.privileged,
        "read_only_root": sec.read_only_root,
        "no_new_privileges": sec.no_new_privileges and not sec.privileged,
        "cap_add": add,
        "cap_drop": drop,
        "host_network": sec.host_network,
        "host_pid": sec.host_pid,
        "host_ipc": sec.host_ipc,
    }


def docker_flags(security: dict[str, Any]) -> list[str]:
    """`docker run` flags for `security` (the VM runtime's line); values are plain words."""
    flags: list[str] = []
    if security["privileged"]:
        flags.append("--privileged")
    flags += [f"--cap-drop {c}" for c in security["cap_drop"]]
    flags += [f"--cap-add {c}" for c in security["cap_add"]]
    if security["no_new_privileges"]:
        flags.append("--security-opt no-new-privileges:true")
    if security["read_only_root"]:
        flags.append("--read-only")
    if security["host_pid"]:
        flags.append("--pid host")
    if security["host_ipc"]:
        flags.append("--ipc host")
    if security["host_network"]:
        flags.append("--network host")
    return flags
