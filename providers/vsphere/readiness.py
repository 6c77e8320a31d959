"""Knowing a new VM's service is up, not just its OS: the guest reports through guestinfo.

The shared bootstrap writes its outcome to /var/lib/portable/status (`ready service=S
revision=R` or `failed: why`). A small vendor-data script (cloud-init runs it before the user
data) copies that file to `guestinfo.portable.status` with `vmware-rpctool info-set`, which
vCenter shows in the VM's extraConfig. The user data itself stays exactly what every VM
target boots. With `readiness: ip` (templates without open-vm-tools, or simulators) the
provider stops at the guest IP.
"""
from __future__ import annotations

import base64
import math
import time
from collections.abc import Mapping
from typing import Any

from portable.engine import cancel
from portable.errors import HealthCheckError
from portable.providers.vsphere.connection import Session

STATUS_KEY = "guestinfo.portable.status"

VENDOR_SCRIPT = """#!/bin/sh
# portable (vsphere): report the bootstrap's outcome as guestinfo.portable.status so the
# deploy waits for the service itself; runs once per instance, in the background.
STATUS="${PORTABLE_ROOT:-/var/lib/portable}/status"
report() { command -v vmware-rpctool >/dev/null 2>&1 && vmware-rpctool "info-set guestinfo.portable.status $1" >/dev/null 2>&1; }
(
  last=""; i=0
  while [ "$i" -lt 3600 ]; do
    now=$(cat "$STATUS" 2>/dev/null || echo booting)
    if [ "$now" != "$last" ]; then report "$now"; last=$now; fi
    case "$now" in ready*|failed*) exit 0;; esac
    i=$((i + 1)); sleep 2
  done
  report "failed: the bootstrap did not finish within 2 hours"
) >/dev/null 2>&1 &
# a migration's archives arrive through VMware Tools (restore.py): hold the user data, which
# starts the service, while the provider says they are still on their way (at most 2 hours)
if command -v vmware-rpctool >/dev/null 2>&1; then
  i=0
  while [ "$(vmware-rpctool 'info-get guestinfo.portable.restore' 2>/dev/null)" = pending ] && [ "$i" -lt 3600 ]; do
    i=$((i + 1)); sleep 2
  done
fi
"""


def vendor_guestinfo() -> dict[str, str]:
    return {
        "guestinfo.vendordata": base64.b64encode(VENDOR_SCRIPT.encode()).decode(),
        "guestinfo.vendordata.encoding": "base64",
    }


def ready_text(spec: Mapping[str, Any]) -> str:
    """What the bootstrap writes once the container is healthy (see providers/vm/bootstrap.py)."""
    return f"ready service={spec['service']} revision={spec['revision']}"


def guest_status(session: Session, vm: Any) -> str | None:
    options = session.read(vm, "config.extraConfig", "reading the guest's status") or []
    for option in options:
        if option.key == STATUS_KEY:
            return str(option.value)
    return None


def wait_service_ready(
    session: Session, vm: Any, name: str, spec: Mapping[str, Any], timeout: float, *, limit: float | None = None
) -> None:
    """Until the guest reports the service ready; HealthCheckError on `failed:` or after
    `timeout` seconds (`limit`: the budget to name in the message, default `timeout`)."""
    want = ready_text(spec)
    deadline = time.monotonic() + timeout
    delay = 0.3
    last = None
    while True:
        last = guest_status(session, vm)
        if last == want:
            return
        if last is not None and last.startswith("failed"):
            raise HealthCheckError(
                f"service `{spec['service']}` did not start on VM `{name}`: {last.removeprefix('failed:').strip()}",
                details=f"{STATUS_KEY} = {last}",
                hint="the bootstrap log is in the VM's console and /var/log/cloud-init-output.log",
            )
        if time.monotonic() > deadline:
            raise HealthCheckError(
                f"service `{spec['service']}` on VM `{name}` did not report ready within {math.ceil(limit or timeout)}s",
                details=f"{STATUS_KEY} = {last or '(never set)'}",
                hint="the template needs open-vm-tools and cloud-init's VMware datasource; "
                "set `readiness: ip` to only wait for the VM's address",
            )
        cancel.pause(delay)
        delay = min(delay * 1.5, 5.0)
