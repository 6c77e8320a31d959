"""vSphere faults become one sentence naming what to fix, with exit code 1.

A name clash is produced for real on vcsim and seen through the CLI. vcsim does not
enforce capacity or privileges, so InsufficientResourcesFault and NoPermission are checked
by handing the mapping real pyVmomi fault objects, as vCenter would deliver them.
"""
from __future__ import annotations

import time

import pytest

pytest.importorskip("pyVmomi")

from pyVmomi import vim, vmodl  # noqa: E402

from portable.errors import AuthError, NotFoundError, TargetError, TransientError  # noqa: E402
from portable.providers.vsphere.errors import translate_fault  # noqa: E402
from portable.providers.vsphere.specs import vm_name  # noqa: E402
from portable.session import Session  # noqa: E402
from vcenter import connect  # noqa: E402

WHAT = "cloning template `portable-template` into VM `shop-web-1234abcd-0`"


@pytest.mark.parametrize(
    ("fault", "error_type", "words"),
    [
        (vim.fault.InvalidLogin(msg="Cannot complete login due to an incorrect user name or password."), AuthError, ["refused the login", "VSPHERE_USER"]),
        (vim.fault.NoPermission(msg="Permission to perform this operation was denied.", privilegeId="VirtualMachine.Provisioning.Clone"), AuthError, ["lacks privilege VirtualMachine.Provisioning.Clone", "grant it"]),
        (vim.fault.InsufficientResourcesFault(msg="Insufficient resources to satisfy configured failover level."), TargetError, ["not enough CPU or memory", "lower the service's `resources`"]),
        (vim.fault.InsufficientMemoryResourcesFault(msg="Insufficient memory resources."), TargetError, ["not enough CPU or memory"]),
        (vim.fault.DuplicateName(msg="The name 'shop-web-1234abcd-0' already exists.", name="shop-web-1234abcd-0"), TargetError, ["named `shop-web-1234abcd-0` already exists", "remove or rename it"]),
        (vim.fault.FileNotFound(msg="File [LocalDS_0] x.vmdk was not found", file="[LocalDS_0] x.vmdk"), NotFoundError, ["[LocalDS_0] x.vmdk is missing", "`datastore`"]),
        (vim.fault.NoDiskSpace(msg="No space left", datastore="LocalDS_0"), TargetError, ["datastore LocalDS_0 is full"]),
        (vim.fault.TaskInProgress(msg="busy"), TransientError, ["retry"]),
        (vmodl.fault.InvalidArgument(msg="A specified parameter was not correct: spec.location.pool", invalidProperty="spec.location.pool"), TargetError, ["spec.location.pool"]),
        # guest operations (export, restore): a wrong guest password and Tools not running, as vCenter reports them
        (vim.fault.InvalidGuestLogin(msg="Failed to authenticate with the guest operating system using the supplied credentials."), AuthError, ["guest OS refused", "VSPHERE_GUEST_PASSWORD"]),
        (vim.fault.GuestOperationsUnavailable(msg="The guest operations agent could not be contacted."), TargetError, ["VMware Tools in the guest do not answer", "open-vm-tools"]),
    ],
)
def test_each_fault_type_becomes_one_sentence_naming_what_to_fix(fault, error_type, words) -> None:
    error = translate_fault(fault, WHAT)
    assert type(error) is error_type
    assert error.exit_code == 1
    text = str(error)
    assert "\n" not in text and WHAT in text
    for word in words:
        assert word in text


def test_unknown_python_errors_are_not_swallowed() -> None:
    with pytest.raises(KeyError):
        translate_fault(KeyError("bug"), WHAT)


@pytest.mark.lab("vcsim")
def test_a_foreign_vm_with_the_same_name_is_reported_by_name(app_cli) -> None:
    """Someone else's VM holds the name the web VM needs: clone fails with DuplicateName."""
    # the name deploy will use: the revision holds the secret's digest, keyed by the state store
    session = Session.open(app_cli.manifest, env=app_cli.env, state=app_cli.state)
    web = next(r for r in session.provider("vcsim").translate(session.app("vcsim")) if r.key == "instance-group/web")
    taken = vm_name(web.spec, 0)
    with connect(app_cli.lab) as content:
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        template = next(v for v in view.view if v.name == app_cli.env.get("LAB_VC_TEMPLATE", "portable-template"))
        view.Destroy()
        folder = next(f for f in content.rootFolder.childEntity[0].vmFolder.childEntity if f.name == app_cli.env.get("LAB_VC_FOLDER", "portable"))
        pool = content.rootFolder.childEntity[0].hostFolder.childEntity[0].resourcePool
        task = template.CloneVM_Task(folder=folder, name=taken, spec=vim.vm.CloneSpec(location=vim.vm.RelocateSpec(pool=pool)))
        while task.info.state in ("queued", "running"):
            time.sleep(0.1)
        foreign = task.info.result
        try:
            with app_cli.reporter():
                result = app_cli.deploy()
            assert result.returncode == 1
            [line] = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
            assert f"a VM or object named `{taken}` already exists" in line and "remove or rename it" in line
        finally:
            destroy = foreign.Destroy_Task()
            while destroy.info.state in ("queued", "running"):
                time.sleep(0.1)
