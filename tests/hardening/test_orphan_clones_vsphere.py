"""A vSphere clone cut short is still the app's (issue 17: after any interruption the target
holds exactly the app's resources, and destroy and gc find what portable created).

A clone's task goes on in vCenter when portable is cut while it waits (Ctrl-C here; a crash
is the same), and portable writes the VM's custom attributes only once the task has finished.
Before the marks also travelled in the clone's own spec (ownership.py's `portable.marks`
option), such a VM was seen by neither `portable destroy` ("No changes") nor `portable gc`,
and stayed on the target for good. Here vcsim is reached through a toxiproxy proxy of the
test's own (test_interrupts_clouds.py's CloudApp); from the `cloning` progress line on, each
of its answers comes LAG_MS late (a slow vCenter), and the deploy is SIGINTed as soon as the
clones exist in vcsim (seen straight through pyVmomi): their tasks' answers, and so the custom
attributes, are then still on the way. The app's VMs are counted by name, marked or not.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from test_interrupts import App, interrupt_on, vm_names  # noqa: E402
from test_interrupts_clouds import CloudApp, vsphere_app  # noqa: E402,F401  (the fixture)

from contract_app import TARGET, manifest_text  # noqa: E402

pytestmark = [pytest.mark.timeout(240)]
REPLICAS = 2  # the contract app's `web`, CT_REPLICAS=2 (test_interrupts_clouds.py)
LAG_MS = 500  # each answer of vcsim's after the `cloning` line: the task's, then each mark's
APPEAR_S = 30.0  # the clones showing up in vcsim (a few lagged round trips before their tasks start)


def _vms_by_name(cloud: CloudApp, *, at_least: int) -> list[str]:
    """The app's VMs as vcsim holds them (straight, not through the proxy), marked or not:
    as soon as `at_least` exist, or what exists after APPEAR_S."""
    deadline = time.monotonic() + APPEAR_S
    while True:
        names = vm_names(cloud.wire.lab_env, f"{cloud.name}-")
        if len(names) >= at_least or time.monotonic() > deadline:
            return names
        time.sleep(0.1)


def _cut_once_cloned(cloud: CloudApp) -> None:
    """`portable deploy`, SIGINTed once its clones exist in vcsim, their answers still lagging."""
    def lag_then_wait() -> None:
        cloud.faults.latency(cloud.wire.toxi_proxy, LAG_MS)
        _vms_by_name(cloud, at_least=REPLICAS)

    try:
        interrupt_on(cloud.app.argv("deploy", "--yes"), cloud.app.env, "cloning", "vsphere deploy", on_marker=lag_then_wait)
    finally:
        cloud.faults.reset()


def _gc_listed(cloud: CloudApp) -> list[dict[str, Any]]:
    """What `portable gc` lists once `web` is taken out of the manifest (its VMs are then
    garbage: gc lists only what the manifest no longer describes), through the app's store."""
    other = cloud.app.manifest.with_name("without-web.yaml")
    other.write_text(manifest_text(cloud.name, cloud.wire.settings_via(cloud.name, None), service="other"))
    done = App(other, cloud.app.state, cloud.app.env, TARGET).run("gc", "-o", "json")
    assert done.returncode == 0, f"gc exited {done.returncode}:\n{done.stdout}{done.stderr}"
    reports = json.loads(done.stdout)
    return [o for report in reports for o in report["objects"]]


@pytest.mark.lab("vcsim", "faults")
def test_vsphere_clones_a_ctrl_c_cut_are_found_by_gc_and_destroy(vsphere_app: CloudApp) -> None:
    cloud, app = vsphere_app, vsphere_app.app
    try:
        _cut_once_cloned(cloud)  # exit 130 and its one line: interrupt_on (the failed revision: test_interrupts_clouds.py)
        left = _vms_by_name(cloud, at_least=REPLICAS)
        assert len(left) == REPLICAS, left  # the cut clones finished in vCenter
        stamped = cloud.objects().get("vms", [])  # counted by their custom attributes (ContractTarget.objects)
        assert len(stamped) < len(left), f"every VM got its custom attributes ({stamped}): the cut came too late to test anything"

        listed = _gc_listed(cloud)
        print(f"\nleft by the cut: {left} (custom attributes on {stamped}); gc lists {json.dumps(listed)[:600]}")
        assert {o["name"] for o in listed if o["kind"] == "VM"} == set(left), listed  # the cut clones, nothing else of the app's

        done = app.ok("destroy", "--yes", "--lock-timeout", "0")
        assert f"{cloud.name} on {TARGET}: destroyed." in done, done
        assert vm_names(cloud.wire.lab_env, f"{cloud.name}-") == [], "destroy left VMs of the app"
        assert cloud.objects() == {}
    finally:  # the fixture's own cleanup counts by custom attributes: the cut clones have none
        if vm_names(cloud.wire.lab_env, f"{cloud.name}-"):
            app.run("destroy", "--yes", "--volumes", timeout=240)
