"""Secrets off guestinfo on vSphere (issue 18, item 3): with the guest account set, the VM's
user data (guestinfo.userdata, in extraConfig) carries the secrets' names only, and portable
writes the values into the guest through VMware Tools' guest file transfer once it answers.

The VM's guest is vcsim's container backing (see test_migrate_vsphere_to_docker.py) with the
docker CLI and the lab engine's socket (test_migrate_vsphere_quiesce.py). vcsim runs no
cloud-init, so the test does what cloud-init would: it reads the user data the VM was cloned
with (through pyVmomi, as anyone with read access to the VM could) and runs its bootstrap in
the guest, which waits for the secrets; the deploy pushes them, and the service container the
bootstrap starts reads the value. The guest's /var/lib/portable is a directory of the test,
mounted at its own path too (PORTABLE_ROOT), because the engine resolves the bootstrap's `-v`
paths on this host. extraConfig of the VM, read through the API, holds no secret value (the
leak scanner, also over the CLI's output and the state).

The image is in a registry that demands a password (private_registry.py; the lab's own has no
auth): the registry password is pushed with the secrets, never in guestinfo, and the guest
logs in with it and pulls. Rotation: a changed value and a redeploy clone a new VM, the push
writes the new value into it and its service reads it; the old VM is gone.
"""
from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers" / "vm"))

from docker_support import Cli, ensure_images, force_remove_app
from private_registry import USER, private_registry
from test_migrate_vsphere_quiesce import docker_guest_image

pytestmark = [pytest.mark.lab("docker", "vcsim", "registry", "images"), pytest.mark.timeout(600)]

APP = f"vssec{uuid.uuid4().hex[:6]}"
SECRET_PATH = "/run/secrets/token"


def manifest(vcsim: Any, guest_image: str, root: Path, server: str) -> str:
    run = json.dumps([f"-v /var/run/docker.sock:/var/run/docker.sock -v {root}:{root} -v {root}:/var/lib/portable {guest_image}"])
    doc = {
        "apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": APP},
        "services": {"web": {"image": f"{server}/lab/web:1", "secrets": [{"name": "api-token", "path": SECRET_PATH}],
                             # the image's own check allows 2 s, which a loaded machine misses: 1 s apart, 10 s each
                             "health": {"http": {"path": "/cgi-bin/health", "port": 8080}, "interval": "1s", "timeout": "10s"}}},
        "secrets": {"api-token": {"from": "env:LEAK_API_TOKEN"}},
        "targets": {"vcsim": {
            "provider": "vsphere", "host": vcsim.host, "port": int(vcsim.port), "insecure": True, "template": vcsim.template,
            "datacenter": vcsim.datacenter, "cluster": vcsim.cluster, "folder": vcsim.folder, "datastore": vcsim.datastore,
            "network": vcsim.network, "readiness": "ip", "boot_timeout": 120,
            "registry": {"server": server, "username": USER, "password_from": "env:LEAK_REGISTRY_PASSWORD"},
            "extra_config": {"RUN.container": run, "RUN.mountdmi": "false"},
        }},
    }
    return yaml.safe_dump(doc, sort_keys=False)


class VCenter:
    """pyVmomi reads of the app's VMs, as anyone with read access to them in vCenter could."""

    def __init__(self, vcsim: Any) -> None:
        from pyVim.connect import SmartConnect

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.si = SmartConnect(host=vcsim.host, port=int(vcsim.port), user=vcsim.user, pwd=vcsim.password, sslContext=context)

    def close(self) -> None:
        from pyVim.connect import Disconnect

        Disconnect(self.si)

    def extra_configs(self) -> dict[str, dict[str, str]]:
        """VM name -> its extraConfig, for the app's VMs (named <app>-<service>-...)."""
        from pyVmomi import vim

        content = self.si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        try:
            return {vm.name: {o.key: str(o.value) for o in vm.config.extraConfig or []} for vm in view.view if vm.name.startswith(f"{APP}-")}
        finally:
            view.Destroy()


def user_data(extra: dict[str, str]) -> str:
    return base64.b64decode(extra["guestinfo.userdata"]).decode()


def guest_of(vm: str) -> str | None:
    names = subprocess.run(["docker", "ps", "--format", "{{.Names}}", "--filter", f"name=vcsim-{vm}-"], capture_output=True, text=True, timeout=30).stdout.split()
    return names[0] if names else None


class GuestBoot(threading.Thread):
    """What cloud-init would do in the new VM: run the bootstrap of its user data."""

    def __init__(self, vc: VCenter, root: Path, booted: frozenset[str] = frozenset()) -> None:
        super().__init__(daemon=True)
        self.vc, self.root, self.booted = vc, root, booted  # VMs already booted: not again
        self.vm = ""
        self.result: subprocess.CompletedProcess[str] | None = None
        self.error = ""
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for name, extra in self.vc.extra_configs().items():
                    guest = guest_of(name) if name not in self.booted else None
                    if guest and "guestinfo.userdata" in extra:
                        self.vm = name
                        script = yaml.safe_load(user_data(extra))["write_files"][0]["content"]
                        self.result = subprocess.run(
                            ["docker", "exec", "-i", "-e", f"PORTABLE_ROOT={self.root}", "-e", "PORTABLE_SKIP_HOST_SETUP=1", "-e", "PORTABLE_SECRET_WAIT=150",
                             guest, "sh", "-c", "cat >/tmp/bootstrap.sh && sh /tmp/bootstrap.sh"],
                            input=script, capture_output=True, text=True, timeout=300)
                        return
                time.sleep(0.5)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = f"{type(exc).__name__}: {exc}"


@pytest.fixture
def vc(vcsim: Any) -> Any:
    client = VCenter(vcsim)
    yield client
    client.close()


def test_secrets_reach_the_vsphere_guest_through_vmware_tools_never_guestinfo_and_rotate(tmp_path: Path, vcsim: Any, vc: VCenter, leak_secrets: Any, lab_env: dict[str, Any]) -> None:
    images = ensure_images()
    root = tmp_path / "guest-root"
    root.mkdir()
    password = leak_secrets.values["LEAK_REGISTRY_PASSWORD"] = f"leak-registry-pw-{uuid.uuid4().hex}"
    with private_registry(lab_env, tmp_path / "registry", password) as server:
        path = tmp_path / "portable.yaml"
        path.write_text(manifest(vcsim, docker_guest_image(images.worker), root, server))
        cli = Cli(tmp_path / "state.db", {"VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password, "VSPHERE_GUEST_USER": "root",
                                          "VSPHERE_GUEST_PASSWORD": "guest-s3cret", "LEAK_API_TOKEN": leak_secrets.value("LEAK_API_TOKEN"),
                                          "LEAK_REGISTRY_PASSWORD": password})
        leak_secrets.watch(tmp_path / "state.db")

        def metadata() -> list[Any]:
            configs = vc.extra_configs()
            return [(name, extra, user_data(extra) if "guestinfo.userdata" in extra else "") for name, extra in configs.items()]

        def reads() -> str:
            seen = subprocess.run(["docker", "exec", f"vm-{APP}-web", "cat", SECRET_PATH], capture_output=True, text=True, timeout=30)
            assert seen.returncode == 0, seen.stderr
            return seen.stdout

        leak_secrets.probe("the VMs' extraConfig (guestinfo) through the vSphere API", metadata)
        # without the guest account the secrets could only ride in guestinfo: refused (the opt-in: test_secrets_guestinfo_opt_in.py)
        without_account = cli.run("plan", "-f", str(path), "-t", "vcsim", extra_env={"VSPHERE_GUEST_USER": "", "VSPHERE_GUEST_PASSWORD": ""})
        assert without_account.returncode == 2, without_account.stdout + without_account.stderr
        assert "services.web.secrets: target `vcsim` has no guest account" in without_account.stderr, without_account.stderr
        assert "targets.vcsim.registry.password_from: target `vcsim` has no guest account" in without_account.stderr, without_account.stderr
        planned = cli.run("plan", "-f", str(path), "-t", "vcsim")
        assert planned.returncode == 0 and "ride in guestinfo" not in planned.stdout, planned.stdout + planned.stderr
        boot = GuestBoot(vc, root)
        boot.start()
        try:
            done = cli.run("deploy", "-f", str(path), "-t", "vcsim", "--yes", timeout=240)
            leak_secrets.record("portable deploy", done.stdout + done.stderr)
            assert done.returncode == 0, done.stdout + done.stderr + boot.error
            assert "secrets written into" in done.stdout + done.stderr
            boot.join(timeout=200)
            assert boot.result is not None, boot.error or "the bootstrap did not run in the guest"
            assert boot.result.returncode == 0, boot.result.stdout[-2000:] + boot.result.stderr[-2000:]
            assert reads() == leak_secrets.value("LEAK_API_TOKEN")
            [(name, extra, text)] = metadata()
            assert "wait_secrets" in text and "api-token" in text and "_registry-password" in text  # the names only
            assert leak_secrets.scan() == []
            assert not [f for f in (root / "secrets").iterdir() if f.name.startswith(".incoming")]  # the upload is consumed
            assert oct((root / "secrets" / "api-token").stat().st_mode & 0o777) == "0o400"
            assert server in (root / "docker-config" / "config.json").read_text()  # the guest logged in with the pushed password and pulled

            # rotation: the new value clones a new VM, the push gives it the new value, the old VM goes
            cli.env["LEAK_API_TOKEN"] = leak_secrets.rotate("LEAK_API_TOKEN")
            second = GuestBoot(vc, root, booted=frozenset({name}))
            second.start()
            again = cli.run("deploy", "-f", str(path), "-t", "vcsim", "--yes", timeout=240)
            leak_secrets.record("portable deploy (rotated)", again.stdout + again.stderr)
            assert again.returncode == 0, again.stdout + again.stderr + second.error
            second.join(timeout=200)
            assert second.result is not None and second.result.returncode == 0, second.error or second.result.stdout[-2000:] + second.result.stderr[-2000:]
            assert second.vm != name and list(vc.extra_configs()) == [second.vm]
            assert reads() == leak_secrets.value("LEAK_API_TOKEN")
            assert leak_secrets.scan() == []
        finally:
            boot.stop.set()
            subprocess.run(["docker", "rm", "-f", f"vm-{APP}-web"], capture_output=True, timeout=60)
            cli.run("destroy", "-f", str(path), "-t", "vcsim", "--yes")
            force_remove_app(APP)
