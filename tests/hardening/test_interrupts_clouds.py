"""Ctrl-C on the VM clouds' long commands (issue 17's last defect), beyond the deploys of
test_ctrl_c.py (aws) and test_interrupts.py (vSphere): a vSphere rollback and destroy on vcsim,
an aws destroy on moto, a libcloud deploy and destroy (its EC2 driver on moto).

The simulators answer in milliseconds, so a command is in its long phase only while the cloud
makes it wait. Each target is reached through a toxiproxy proxy of the test's own (wire.py's
`WireTarget`); the setup runs through it untouched, and on the progress line of the phase to
cut, the cloud stops answering (a `timeout` toxic holding every answer, as a vCenter or an API
endpoint that hangs) and SIGINT is sent at once: the command is then in the middle of its calls,
with requests the cloud may have acted on and whose answers never came. What a user sees and
what is left is asserted with test_interrupts.py's helpers: exit 130 within its BOUND_S, one
line "error: interrupted; ..." saying what was done and what to run, no traceback, the revision
recorded failed ("interrupted by Ctrl-C"), the lock free (the rerun passes --lock-timeout 0),
and a plain rerun that converges: the target then holds exactly the app's objects, counted
through the cloud's own API (pyVmomi on vcsim, boto3 on moto), none twice, none left over.
"""
from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from test_interrupts import App, Interrupted, assert_recorded_interrupted, interrupt_on, vm_names  # noqa: E402
from wire import COMPONENTS, WireTarget  # noqa: E402

from contract_app import TARGET, manifest_text  # noqa: E402

pytestmark = [pytest.mark.timeout(300)]


@dataclass
class CloudApp:
    """An app of the contract suite (service `web`, 2 replicas) on one cloud, through a proxy of its own."""

    app: App
    name: str
    wire: WireTarget
    faults: Any

    def cut(self, args: tuple[str, ...], marker: str, what: str) -> Interrupted:
        """`portable ARGS`, interrupted on `marker` while the cloud holds every answer."""
        try:
            return interrupt_on(self.app.argv(*args), self.app.env, marker, what,
                                on_marker=lambda: self.faults.timeout(self.wire.toxi_proxy, 0))
        finally:
            self.faults.reset()  # the held answers go through now; nothing waits for them any more

    def objects(self) -> dict[str, list[str]]:
        """What the cloud holds for the app, by kind, through its own API (empty kinds left out)."""
        return {kind: names for kind, names in self.wire.ct.objects(self.name).items() if names}


def _cloud_app(provider: str, lab: Any, faults: Any, tmp_path: Path) -> Iterator[CloudApp]:
    env_lab = lab.require("faults", *COMPONENTS[provider])
    wire = WireTarget.open(provider, env_lab, tmp_path)
    name = f"intr-{provider[0]}{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "portable.yaml"
    app = App(manifest, tmp_path / "state.db", dict(wire.ct.env(), CT_REPLICAS="2"), TARGET)
    try:
        manifest.write_text(manifest_text(name, wire.settings_via(name, wire.tcp_endpoint(faults))))
        yield CloudApp(app, name, wire, faults)
    finally:
        faults.reset()
        if any(wire.ct.objects(name).values()):  # a test that failed half-way (a passing one destroyed it all)
            manifest.write_text(manifest_text(name, wire.settings_via(name, None)))  # straight to the cloud
            app.run("destroy", "--yes", "--volumes", timeout=240)
        wire.close([name])


@pytest.fixture
def vsphere_app(lab: Any, faults: Any, tmp_path: Path) -> Iterator[CloudApp]:
    yield from _cloud_app("vsphere", lab, faults, tmp_path)


@pytest.fixture
def aws_app(lab: Any, faults: Any, tmp_path: Path) -> Iterator[CloudApp]:
    yield from _cloud_app("aws", lab, faults, tmp_path)


@pytest.fixture
def libcloud_app(lab: Any, faults: Any, tmp_path: Path) -> Iterator[CloudApp]:
    yield from _cloud_app("libcloud", lab, faults, tmp_path)


def _revision_of(vm: str) -> str:
    """The revision part of a replica VM's name (`<app>-<service>-<revision>-<replica>`)."""
    return vm.rsplit("-", 2)[1]


# ---------------------------------------------------------------------------- vsphere on vcsim
@pytest.mark.lab("vcsim", "faults")
def test_ctrl_c_vsphere_rollback_and_destroy(vsphere_app: CloudApp) -> None:
    cloud, app = vsphere_app, vsphere_app.app
    app.ok("deploy", "--yes")
    first = cloud.objects()["vms"]
    assert len(first) == 2, first
    app.env["CT_GREETING"] = "two"
    app.ok("deploy", "--yes")
    assert {_revision_of(vm) for vm in cloud.objects()["vms"]} != {_revision_of(first[0])}

    # rollback, cut while it clones revision 1's VMs again (vCenter holds the clone's answer)
    rolled = cloud.cut(("rollback",), "cloning", "vsphere rollback")
    assert "(rollback: rollback to revision 1) stopped after" in rolled.line and "run the same command again" in rolled.line, rolled.line
    assert_recorded_interrupted(app)
    assert "rolled back as revision 4" in app.ok("rollback", "--lock-timeout", "0")  # the lock is free, revision 3 stays failed
    vms = cloud.objects()["vms"]
    assert len(vms) == 2 and {_revision_of(vm) for vm in vms} == {_revision_of(first[0])}, vms  # revision 1's two, nothing of 2, no half clone
    assert vm_names(cloud.wire.lab_env, f"{cloud.name}-") == sorted(vms)  # and no unmarked clone of the cut run beside them
    assert sorted(env.get("GREETING", "") for env in cloud.wire.ct.running_env(cloud.name, "web")) == ["one", "one"]

    # destroy, cut while it deletes the VMs (vCenter holds the power-off's or the delete's answer)
    destroyed = cloud.cut(("destroy", "--yes"), "terminating", "vsphere destroy")
    assert "(destroy) stopped after" in destroyed.line and "run destroy again to remove the rest" in destroyed.line, destroyed.line
    assert_recorded_interrupted(app)
    assert f"{cloud.name} on {TARGET}: destroyed." in app.ok("destroy", "--yes", "--lock-timeout", "0")
    assert cloud.objects() == {}
    assert vm_names(cloud.wire.lab_env, f"{cloud.name}-") == []


# ---------------------------------------------------------------------------- aws on moto
@pytest.mark.lab("moto", "faults")
def test_ctrl_c_aws_destroy(aws_app: CloudApp) -> None:
    """The deploy's Ctrl-C is test_ctrl_c.py's; here the destroy, cut while it terminates the instances."""
    cloud, app = aws_app, aws_app.app
    app.ok("deploy", "--yes")
    assert len(cloud.objects()["instances"]) == 2, cloud.objects()
    destroyed = cloud.cut(("destroy", "--yes"), "terminating", "aws destroy")
    assert "(destroy) stopped after" in destroyed.line and "run destroy again to remove the rest" in destroyed.line, destroyed.line
    assert_recorded_interrupted(app)
    assert f"{cloud.name} on {TARGET}: destroyed." in app.ok("destroy", "--yes", "--lock-timeout", "0")
    assert cloud.objects() == {}  # instances, their root disks, the security group: all gone


# ---------------------------------------------------------------------------- libcloud (EC2 driver) on moto
@pytest.mark.lab("moto", "faults")
def test_ctrl_c_libcloud_deploy_and_destroy(libcloud_app: CloudApp) -> None:
    cloud, app = libcloud_app, libcloud_app.app

    # deploy, cut while it starts the instances (the cloud holds the create's answer: a node it may have made)
    cut = cloud.cut(("deploy", "--yes"), "starting", "libcloud deploy")
    assert "(deploy) stopped after" in cut.line and "run the same command again to converge" in cut.line, cut.line
    assert_recorded_interrupted(app)
    assert f"{cloud.name} on {TARGET}: revision 2 deployed." in app.ok("deploy", "--yes", "--lock-timeout", "0")
    objects = cloud.objects()
    assert len(objects["instances"]) == 2 and len(objects["security_groups"]) == 1, objects  # no node started twice, none left

    destroyed = cloud.cut(("destroy", "--yes"), "terminating", "libcloud destroy")
    assert "(destroy) stopped after" in destroyed.line and "run destroy again to remove the rest" in destroyed.line, destroyed.line
    assert_recorded_interrupted(app)
    assert f"{cloud.name} on {TARGET}: destroyed." in app.ok("destroy", "--yes", "--lock-timeout", "0")
    assert cloud.objects() == {}
