"""The libcloud provider through a second driver: libcloud's vSphere driver (VSphereNodeDriver,
pyVmomi) against the lab's vcsim. examples/hello is deployed, updated and destroyed through the
real CLI, and what exists is read back from vcsim with pyVmomi, not through portable.

vcsim runs no guest, so `Tools` plays VMware Tools for the app's powered-on VMs: it reports a
guest address through vcsim's documented `SET.guest.ipAddress` hook, which libcloud's
wait_until_running waits for (the lab's vSphere tests do the same, tests/providers/vsphere/vcenter.py).
"""
from __future__ import annotations

import base64
import os
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab("vcsim")
REPO = Path(__file__).resolve().parents[3]
HELLO = REPO / "examples" / "hello" / "portable.yaml"
TOKEN_FREE = "hello from libcloud on vsphere"


def connect(vcsim: Any) -> Any:
    from pyVim.connect import SmartConnect

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return SmartConnect(host=vcsim.host, port=vcsim.port, user=vcsim.user, pwd=vcsim.password, sslContext=ctx)


def app_vms(si: Any, prefix: str) -> dict[str, Any]:
    """name -> VM of every VM whose name starts with `prefix` (what vCenter's inventory shows)."""
    from pyVmomi import vim

    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return {vm.name: vm for vm in view.view if vm.name.startswith(prefix)}
    finally:
        view.Destroy()


class Tools(threading.Thread):
    """Plays VMware Tools: a powered-on VM of the app without an address gets one (10.78.0.N)."""

    def __init__(self, vcsim: Any, prefix: str) -> None:
        super().__init__(name="vmware-tools", daemon=True)
        self.vcsim, self.prefix, self.stop = vcsim, prefix, threading.Event()
        self.assigned: dict[str, str] = {}

    def run(self) -> None:
        from pyVmomi import vim

        si = connect(self.vcsim)
        while not self.stop.is_set():
            try:
                for vm in app_vms(si, self.prefix).values():
                    if str(vm.runtime.powerState) == "poweredOn" and not vm.guest.ipAddress and vm._moId not in self.assigned:
                        self.assigned[vm._moId] = f"10.78.0.{len(self.assigned) + 10}"
                        vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=[
                            vim.option.OptionValue(key="SET.guest.ipAddress", value=self.assigned[vm._moId])]))
            except Exception:  # noqa: BLE001 - VMs come and go under us: look again
                pass
            self.stop.wait(0.3)


@pytest.fixture
def hello(tmp_path: Path, vcsim: Any) -> Iterator[dict[str, Any]]:
    """examples/hello with a libcloud `vsphere` target on the lab's vcsim; destroyed afterwards."""
    target = (
        "targets:\n  onprem:\n    provider: libcloud\n    driver: vsphere\n"
        f"    image: {vcsim.template}\n"
        "    readiness: state\n"          # no guest runs on vcsim: the node state is all there is
        f"    driver_options: {{host: {vcsim.host}, port: {vcsim.port}, verify_ssl: false}}\n"
    )
    manifest = tmp_path / "hello" / "portable.yaml"
    manifest.parent.mkdir()
    text = HELLO.read_text()
    assert "\ntargets:" not in text
    manifest.write_text(text.rstrip("\n") + "\n" + target)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIBCLOUD_", "VSPHERE_"))}
    env.update(VSPHERE_USER=vcsim.user, VSPHERE_PASSWORD=vcsim.password, WEB_IMAGE="127.0.0.1:5000/lab/web:1",
               WEB_PORT="8080", WEB_HEALTH_PATH="/cgi-bin/health", GREETING=TOKEN_FREE)
    tools = Tools(vcsim, "pt--hello--onprem--")
    tools.start()
    shop = {"manifest": manifest, "state": tmp_path / "state.db", "env": env, "tools": tools}
    yield shop
    cli(shop, "destroy", "--target", "onprem", "--yes")
    tools.stop.set()
    tools.join(timeout=10)


def cli(shop: dict[str, Any], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    state = [] if args[0] in ("render", "validate") else ["--state", str(shop["state"])]
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(shop["manifest"]), *state],
                          env={**shop["env"], **env}, capture_output=True, text=True, timeout=600)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def user_data_of(vm: Any) -> str:
    extra = {o.key: str(o.value) for o in vm.config.extraConfig or []}
    assert extra.get("guestinfo.userdata.encoding") == "base64"
    return base64.b64decode(extra["guestinfo.userdata"]).decode()


def test_deploy_update_and_destroy_an_app_through_libclouds_vsphere_driver(hello: dict[str, Any], vcsim: Any) -> None:
    si = connect(vcsim)
    assert app_vms(si, "pt--hello--") == {}
    out = ok(cli(hello, "deploy", "--target", "onprem", "--yes"))
    vms = app_vms(si, "pt--hello--onprem--web--")
    assert len(vms) == 1, (vms, out)
    (name, vm), = vms.items()
    assert name.startswith("pt--hello--onprem--web--0--")
    assert str(vm.runtime.powerState) == "poweredOn"
    first = user_data_of(vm)                                   # cloud-init's VMware datasource reads this
    assert "127.0.0.1:5000/lab/web:1" in first and TOKEN_FREE in first
    assert vm.config.hardware.memoryMB == 1024 and vm.config.hardware.numCPU == 1   # the smallest catalogue size
    status = ok(cli(hello, "status", "--target", "onprem"))
    assert re.search(r"^web\s+1\s+1\s+1\b", status, re.M), status          # desired, running, healthy

    again = ok(cli(hello, "deploy", "--target", "onprem", "--yes"))
    assert "no changes; nothing was touched" in again
    assert set(app_vms(si, "pt--hello--onprem--web--")) == {name}

    out = ok(cli(hello, "deploy", "--target", "onprem", "--yes", GREETING="a new greeting"))
    assert "1 to replace" in out
    new = app_vms(si, "pt--hello--onprem--web--")
    assert len(new) == 1 and name not in new                   # new before old: the old VM is gone now
    assert "a new greeting" in user_data_of(next(iter(new.values())))
    assert out.index("web: 1 new instance(s) healthy and serving") < out.index("web: terminating")

    ok(cli(hello, "destroy", "--target", "onprem", "--yes"))
    assert app_vms(si, "pt--hello--") == {}


def test_volumes_are_refused_at_plan_time_and_a_wrong_password_is_one_sentence(hello: dict[str, Any], vcsim: Any) -> None:
    manifest: Path = hello["manifest"]
    plain = manifest.read_text()
    manifest.write_text(plain.replace("    health:\n", "    volumes:\n      - data:/data\n    health:\n", 1)
                        .replace("\ntargets:\n", "\nvolumes:\n  data:\n    size: 1Gi\ntargets:\n", 1))
    refused = cli(hello, "plan", "--target", "onprem")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "services.web.volumes" in refused.stderr and "cannot provide" in refused.stderr, refused.stderr
    manifest.write_text(plain)
    wrong = cli(hello, "plan", "--target", "onprem", VSPHERE_PASSWORD="not-the-password")
    assert wrong.returncode != 0
    assert "not-the-password" not in wrong.stdout + wrong.stderr
    assert "Traceback" not in wrong.stderr and "internal error" not in wrong.stderr, wrong.stderr
    # vcsim answers "Login failure", which libcloud reports as "Cannot connect to vSphere" (a real
    # vCenter's "incorrect user name or password" becomes an authentication error)
    assert "could not open the libcloud `vsphere` driver" in wrong.stderr and "<" not in wrong.stderr, wrong.stderr
    assert app_vms(connect(vcsim), "pt--hello--") == {}
