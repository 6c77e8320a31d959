"""vSphere-only steps for libcloud's `vsphere` driver (VSphereNodeDriver, pyVmomi underneath).

The driver clones a template and powers the clone on, but its create_node takes no user data,
lists no sizes and cannot find an image by id. So, for this driver:

* sizes come from the profile's catalogue (a vSphere VM takes any CPU count and memory size);
* the image is the template whose instance UUID (libcloud's image id) or name is `image`;
* the user data reaches cloud-init's VMware datasource as `guestinfo.userdata` (with metadata
  naming the instance), set through the driver's own pyVmomi connection right after the clone,
  and the VM is reset so that its boot reads them (the clone had started booting without).
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any

from portable.engine import cancel
from portable.errors import TargetError
from portable.providers.libcloud.connect import call
from portable.providers.libcloud.errors import map_error

TASK_SECONDS = 300.0
LIST_ATTEMPTS = 6


def _vm(driver: Any, node: Any) -> Any:
    vm = call(driver.find_by_uuid, node.id, action="find", what=f"VM {node.name}")
    if vm is None:
        raise TargetError(f"VM {node.name} ({node.id}) is not in vCenter any more")
    return vm


def _wait(task: Any, what: str) -> None:
    """Polls the task (the driver's own wait sleeps 10 s between looks)."""
    deadline = time.monotonic() + TASK_SECONDS
    while True:
        state = str(task.info.state)
        if state == "success":
            return
        if state == "error":
            fault = task.info.error
            raise TargetError(f"vCenter could not {what}: {getattr(fault, 'msg', None) or fault}")
        if time.monotonic() > deadline:
            raise TargetError(f"vCenter did not {what} within {TASK_SECONDS:.0f}s")
        cancel.pause(0.3)


def guestinfo(user_data: str | bytes, name: str) -> dict[str, str]:
    """extraConfig for cloud-init's VMware datasource (base64 user data and metadata)."""
    data = user_data.encode() if isinstance(user_data, str) else user_data
    # cleanup-guestinfo: cloud-init blanks guestinfo.userdata once read (it may carry secrets)
    metadata = json.dumps({"instance-id": name, "local-hostname": name, "cleanup-guestinfo": ["userdata"]}, sort_keys=True)
    return {
        "guestinfo.userdata": base64.b64encode(data).decode(),
        "guestinfo.userdata.encoding": "base64",
        "guestinfo.metadata": base64.b64encode(metadata.encode()).decode(),
        "guestinfo.metadata.encoding": "base64",
    }


def deliver_user_data(driver: Any, node: Any, user_data: str | bytes) -> None:
    """Sets the guestinfo of a VM libcloud just cloned and powered on, then resets it."""
    from pyVmomi import vim  # the vsphere driver needs pyVmomi anyway

    vm = _vm(driver, node)
    options = [vim.option.OptionValue(key=k, value=v) for k, v in guestinfo(user_data, node.name).items()]
    _wait(call(vm.ReconfigVM_Task, spec=vim.vm.ConfigSpec(extraConfig=options), action="configure", what=f"VM {node.name}"),
          f"set the user data of VM {node.name}")
    if str(vm.runtime.powerState) == "poweredOn":
        _wait(call(vm.ResetVM_Task, action="reset", what=f"VM {node.name}"), f"reset VM {node.name}")


def _list_images(driver: Any) -> list[Any]:
    """libcloud's list_images reads each VM's config in turn: a VM that someone else deletes
    meanwhile fails the whole listing (ManagedObjectNotFound), so it is listed again (bounded)."""
    for attempt in range(1, LIST_ATTEMPTS + 1):
        try:
            return list(driver.list_images())
        except Exception as exc:  # noqa: BLE001 - pyVmomi faults have no common importable base here
            if type(exc).__name__ != "ManagedObjectNotFound" or attempt == LIST_ATTEMPTS:
                raise map_error(exc, "list", "templates") from exc
            time.sleep(0.5 * attempt)
    return []


def find_image(driver: Any, image: str) -> Any:
    """The template whose instance UUID or name is `image`."""
    for candidate in _list_images(driver):
        if image in (candidate.id, candidate.name):
            return candidate
    raise TargetError(f"vCenter has no template `{image}`", hint="set `image` to a template's name or instance UUID")
