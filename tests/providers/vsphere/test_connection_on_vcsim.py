"""Reaching vCenter: `portable targets`, a credentials file instead of the environment, and a
linked clone from a template that has a snapshot, all against the lab's vcsim."""
from __future__ import annotations

import time
import uuid

import pytest

pytest.importorskip("pyVmomi")

from pyVmomi import vim  # noqa: E402

from vcenter import connect  # noqa: E402

pytestmark = pytest.mark.lab("vcsim")


def test_targets_reports_vcenter_reachable_and_refuses_a_wrong_password(app_cli) -> None:
    ok = app_cli("targets", targeted=False)
    assert ok.returncode == 0, ok.stderr
    [line] = [x for x in ok.stdout.splitlines() if x.startswith("vcsim")]
    assert "yes" in line and "template `portable-template`" in line and f"{app_cli.lab.port}" in line
    bad = app_cli("targets", targeted=False, VSPHERE_PASSWORD="pw-not-right-4711")
    [line] = [x for x in bad.stdout.splitlines() if x.startswith("vcsim")]
    assert "NO" in line and "refused the login" in line and "pw-not-right-4711" not in bad.stdout + bad.stderr


def test_credentials_file_is_used_when_the_environment_has_none(app_cli, tmp_path) -> None:
    creds = tmp_path / "vsphere.credentials"
    creds.write_text(f"# lab vCenter\nuser = {app_cli.lab.user}\npassword = {app_cli.lab.password}\n")
    with app_cli.reporter():
        result = app_cli.deploy(VSPHERE_USER="", VSPHERE_PASSWORD="", VC_CREDENTIALS_FILE=str(creds), WORKER_REPLICAS="1")
    assert result.returncode == 0, result.stderr
    assert len(app_cli.vms()) == 3
    missing = app_cli.deploy(VSPHERE_USER="", VSPHERE_PASSWORD="", VC_CREDENTIALS_FILE=str(tmp_path / "nope"))
    assert missing.returncode == 2 and "cannot be read" in missing.stderr


@pytest.fixture
def snapshot_template(app_cli):
    """A template with a snapshot (VM cloned from the lab template, snapshotted, marked template)."""
    name = f"portable-linked-{uuid.uuid4().hex[:6]}"
    with connect(app_cli.lab) as content:
        dc = content.rootFolder.childEntity[0]
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        source = next(v for v in view.view if v.name == "portable-template")
        view.Destroy()
        pool = dc.hostFolder.childEntity[0].resourcePool

        def run(task):
            while task.info.state in ("queued", "running"):
                time.sleep(0.05)
            assert task.info.state == "success", task.info.error
            return task.info.result

        vm = run(source.CloneVM_Task(folder=dc.vmFolder, name=name, spec=vim.vm.CloneSpec(location=vim.vm.RelocateSpec(pool=pool))))
        run(vm.CreateSnapshot_Task(name="base", memory=False, quiesce=False))
        vm.MarkAsTemplate()
        yield name
        vm.MarkAsVirtualMachine(pool=pool)
        run(vm.Destroy_Task())


def test_template_with_a_snapshot_is_cloned_as_linked_clones(app_cli, snapshot_template) -> None:
    with app_cli.reporter():
        result = app_cli.deploy(VC_TEMPLATE=snapshot_template, WORKER_REPLICAS="1")
    assert result.returncode == 0, result.stderr
    assert "linked clone" in result.stderr  # progress lines
    assert all(vm.power_state == "poweredOn" and vm.ip for vm in app_cli.vms())
