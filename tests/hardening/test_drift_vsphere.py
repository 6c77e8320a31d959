"""Drift on vSphere (vcsim): a service VM powered off through pyVmomi behind portable's back
is listed by `plan`, exits 2 with --detailed-exitcode, and `deploy` has it serving again."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from drift_support import drift_app, drift_cycle

pytestmark = pytest.mark.lab("vcsim")


def _web_vms(target: Any, app: str) -> list[Any]:
    from vcenter import app_vms

    with target._content() as content:
        return [v for v in app_vms(content, app) if v.marks.get("portable.service") == "web"]


def _power_off(target: Any, name: str) -> None:
    """PowerOffVM_Task on the VM named `name`, as a vCenter user (or govc vm.power -off) does."""
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    with target._content() as content:
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        try:
            (vm,) = [v for v in view.view if v.name == name]
            WaitForTask(vm.PowerOffVM_Task())
        finally:
            view.Destroy()


def test_vm_powered_off_is_drift_that_deploy_repairs(lab: Any, tmp_path: Path) -> None:
    with drift_app(lab, "vsphere", tmp_path) as (target, app):
        def power_off() -> None:
            (vm,) = _web_vms(target, app.name)
            assert vm.power_state == "poweredOn"
            _power_off(target, vm.name)

        entry = drift_cycle(app, "vsphere", edit=power_off, service="web", field="power_state.0")
        assert (entry["desired"], entry["live"]) == ("poweredOn", "poweredOff")
        vms = _web_vms(target, app.name)
        assert [v.power_state for v in vms] == ["poweredOn"], f"after deploy the web VMs are {[(v.name, v.power_state) for v in vms]}"
