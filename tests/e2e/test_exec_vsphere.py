"""`portable exec` on vSphere (issue 20, item 3), through VMware Tools' guest operations on the
lab's vcsim, whose VM guests are real containers (test_migrate_vsphere_to_docker.py).

The guest carries the docker CLI and the lab engine's socket (test_migrate_vsphere_quiesce.py),
and the service's container `vm-<app>-web` is started from inside it as the VM bootstrap
starts it, sharing the guest's /var/lib/portable. `portable exec web -- CMD` runs CMD in that
container: its output is printed, its exit code is portable's, `-i` feeds it the local input.
Before the container exists the VM is said to run none (exit 1); without the guest account
exec is refused naming the variables (tests/unit/test_verbs_refusals.py, test_verbs_vsphere.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from docker_support import Cli, ensure_images, force_remove_app
from test_migrate_vsphere_quiesce import docker_guest_image, guest_volumes, manifest as quiesce_manifest
from test_migrate_vsphere_to_docker import guest_container, vm_names

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers" / "vm"))

from exec_support import streams_as_it_comes  # noqa: E402

pytestmark = [pytest.mark.lab("docker", "vcsim"), pytest.mark.timeout(600)]

APP = f"exec-vs-{uuid.uuid4().hex[:6]}"
SERVICE_CONTAINER = f"vm-{APP}-web"  # container_name() of the VM bootstrap
IDLE = "trap 'exit 0' TERM; while :; do sleep 1; done"


def portable_exec(cli: Cli, path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["portable", "exec", "-f", str(path), "-t", "vcsim", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **cli.env}, timeout=180)


@pytest.fixture
def cli(tmp_path: Path, vcsim: Any) -> Cli:
    images = ensure_images()
    env = {"WORKER_IMAGE": images.worker, "GUEST_IMAGE": docker_guest_image(images.worker), "VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password,
           "VSPHERE_GUEST_USER": "root", "VSPHERE_GUEST_PASSWORD": "guest-s3cret",
           **{f"LAB_VC_{k.upper()}": str(getattr(vcsim, k)) for k in ("host", "port", "template", "datacenter", "cluster", "folder", "datastore", "network")}}
    return Cli(tmp_path / "state.db", env)


def test_exec_runs_in_the_guests_service_container_and_passes_its_exit_code(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "portable.yaml"
    text = quiesce_manifest().replace("name: vsq-quiesce", f"name: {APP}").replace("\n  kv:\n", "\n  web:\n")
    assert APP in text and "\n  web:\n" in text
    path.write_text(text)
    try:
        deployed = cli.run("deploy", "-f", str(path), "-t", "vcsim", "--yes", "--quiet")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        [vm] = vm_names(cli, path)
        guest = guest_container(vm)

        # the bootstrap has not started the service yet: said, not passed off as the command's exit
        missing = portable_exec(cli, path, "web", "--", "true")
        assert missing.returncode == 1 and f"runs no container {SERVICE_CONTAINER}" in missing.stderr, missing.stderr

        subprocess.run(["docker", "exec", guest, "docker", "run", "-d", "--name", SERVICE_CONTAINER, "--label", "portable-test=exec-vsphere",
                        "--volumes-from", guest, cli.env["WORKER_IMAGE"], "sh", "-c", IDLE], check=True, capture_output=True, timeout=60)

        said = portable_exec(cli, path, "web", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
        assert said.returncode == 3, said.stdout + said.stderr
        assert said.stdout == "hi\n" and said.stderr == "oops\n"

        # -i: the input is given to the command, in the container that shares the guest's volumes
        fed = portable_exec(cli, path, "web", "-i", "--", "sh", "-c", "cat > /var/lib/portable/fed.txt && tr a-z A-Z < /var/lib/portable/fed.txt",
                            stdin="fed through vmware tools\n")
        assert fed.returncode == 0, fed.stderr
        assert fed.stdout == "FED THROUGH VMWARE TOOLS\n"
        seen = subprocess.run(["docker", "exec", SERVICE_CONTAINER, "cat", "/var/lib/portable/fed.txt"], capture_output=True, text=True, timeout=30)
        assert seen.stdout == "fed through vmware tools\n"

        # output read back while the command runs (every couple of seconds), not only at its end
        streams_as_it_comes(["portable", "exec", "-f", str(path), "-t", "vcsim", "web"], {**os.environ, **cli.env}, 5)

        absent = portable_exec(cli, path, "web", "--replica", "2", "--", "true")
        assert absent.returncode == 2 and "web has no running replica 2" in absent.stderr and f"1 ({vm})" in absent.stderr, absent.stderr

        # nothing of an exec is left in the guest's /tmp; the guest password is never printed
        left = subprocess.run(["docker", "exec", guest, "sh", "-c", "ls /tmp | grep portable-exec || true"], capture_output=True, text=True, timeout=30)
        assert left.stdout.strip() == ""
        for out in (missing, said, fed, absent):
            assert "guest-s3cret" not in out.stdout + out.stderr
    finally:
        held = guest_volumes(SERVICE_CONTAINER)
        subprocess.run(["docker", "rm", "-f", SERVICE_CONTAINER], capture_output=True, timeout=60)
        cli.run("destroy", "-f", str(path), "-t", "vcsim", "--yes", "--volumes")
        force_remove_app(APP)
        for volume in held:  # the guest's /var/lib/portable, kept alive by the service container
            subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, timeout=60)
