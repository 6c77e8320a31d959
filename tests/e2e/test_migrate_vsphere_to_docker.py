"""A stateful app moves from vSphere VMs (the lab's vcsim) to the Docker engine with its data.

vcsim runs a VM's guest as a container when the VM's extraConfig says `RUN.container` (its
documented container backing), and serves VMware Tools' guest operations by `docker exec`
into it and guest file transfers by `docker cp`. The target sets that key through
`extra_config`, so the service VM's guest is a real shell with tar and gzip (see
guest_image). The data is
written where the VM bootstrap keeps the volume (/var/lib/portable/volumes/data); the
migration packs it in the guest, downloads it through vCenter's transfer URL, restores it on
Docker, starts the service there and retires the VMs.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from docker_support import Cli, ensure_images, force_remove_app
from sealed_support import opened

pytestmark = [pytest.mark.lab("docker", "vcsim"), pytest.mark.timeout(900)]

APP = "vm-to-docker"
GUEST_VOLUME = "/var/lib/portable/volumes/data"
MANIFEST = f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  kv:
    image: ${{WORKER_IMAGE}}
    volumes:
      - {{volume: data, path: /data}}
volumes:
  data: {{size: 1Gi}}
targets:
  vcsim:
    provider: vsphere
    host: ${{LAB_VC_HOST}}
    port: ${{LAB_VC_PORT}}
    insecure: true
    template: ${{LAB_VC_TEMPLATE}}
    datacenter: ${{LAB_VC_DATACENTER}}
    cluster: ${{LAB_VC_CLUSTER}}
    folder: ${{LAB_VC_FOLDER}}
    datastore: ${{LAB_VC_DATASTORE}}
    network: ${{LAB_VC_NETWORK}}
    readiness: ip
    boot_timeout: 120
    extra_config:
      RUN.container: '["${{GUEST_IMAGE}}"]'
      RUN.mountdmi: "false"
  local:
    provider: docker
"""


def guest_container(vm_name: str) -> str:
    """The container vcsim runs as the VM's guest (named vcsim-<vm>-<uuid>)."""
    names = subprocess.run(["docker", "ps", "--format", "{{.Names}}", "--filter", f"name=vcsim-{vm_name}-"],
                           capture_output=True, text=True, check=True, timeout=30).stdout.split()
    assert len(names) == 1, f"expected one guest container for VM {vm_name}, found {names}"
    return names[0]


def checksums_in(container: str, root: str) -> dict[str, str]:
    out = subprocess.run(["docker", "exec", container, "sh", "-c", f"cd {root} && find . -type f ! -name '.portable*' -exec sha256sum {{}} +"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return {line.split(None, 1)[1].removeprefix("./"): line.split(None, 1)[0] for line in out.splitlines()}


def vm_names(cli: Cli, manifest: Path) -> list[str]:
    status = cli.run("status", "-f", str(manifest), "-t", "vcsim", "-o", "json")
    assert status.returncode == 0, status.stderr
    return [i["name"] for s in json.loads(status.stdout)["services"] for i in s["instances"]]


GUEST_IMAGE = "portable-test/vm-guest:3"
GUEST_DOCKERFILE = """FROM portable-test/worker:1
COPY rootfs/ /
RUN mkdir -p /tmp /var/lib/portable && chmod 1777 /tmp
CMD ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
"""


def guest_image(worker: str) -> str:
    """The VM's guest: the lab's busybox userland plus what a Debian VM has that vcsim relies
    on (GNU tar: vcsim's guest file transfer runs `tar Ccf`), /tmp, and an init that stops
    when told to."""
    if subprocess.run(["docker", "image", "inspect", GUEST_IMAGE], capture_output=True, timeout=30).returncode == 0:
        return GUEST_IMAGE
    assert worker == "portable-test/worker:1"
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp, "rootfs")
        libs = re.findall(r"(/\S+\.so[.\d]*) \(", subprocess.run(["ldd", "/usr/bin/tar"], capture_output=True, text=True, check=True).stdout)
        for src in ["/usr/bin/tar", *libs]:
            dest = rootfs / src.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(src), dest)
        Path(tmp, "Dockerfile").write_text(GUEST_DOCKERFILE)
        subprocess.run(["docker", "build", "-q", "-t", GUEST_IMAGE, tmp], check=True, capture_output=True, timeout=300)
    return GUEST_IMAGE


@pytest.fixture
def cli(tmp_path: Path, vcsim) -> Cli:  # type: ignore[no-untyped-def]
    images = ensure_images()
    force_remove_app(APP)
    env = {"WORKER_IMAGE": images.worker, "GUEST_IMAGE": guest_image(images.worker), "VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password,
           "VSPHERE_GUEST_USER": "root", "VSPHERE_GUEST_PASSWORD": "guest-s3cret",
           **{f"LAB_VC_{k.upper()}": str(getattr(vcsim, k)) for k in ("host", "port", "template", "datacenter", "cluster", "folder", "datastore", "network")}}
    return Cli(tmp_path / "state.db", env)


def test_stateful_app_moves_from_vsphere_vms_to_docker_with_its_data(tmp_path: Path, cli: Cli) -> None:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    try:
        deployed = cli.run("deploy", "-f", str(manifest), "-t", "vcsim", "--yes")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        [vm] = vm_names(cli, manifest)
        guest = guest_container(vm)
        subprocess.run(["docker", "exec", guest, "sh", "-c", f"mkdir -p {GUEST_VOLUME}/orders && echo '{{\"id\": 7}}' > {GUEST_VOLUME}/orders/7.json"],
                       check=True, timeout=30)
        subprocess.run(["docker", "exec", "-i", guest, "sh", "-c", f"cat > {GUEST_VOLUME}/blob.bin"],
                       input=random.randbytes(400_000), check=True, timeout=30)
        written = checksums_in(guest, GUEST_VOLUME)
        assert set(written) == {"orders/7.json", "blob.bin"}

        # a backup reads the same files out of the guest
        backup = cli.run("backup", "-f", str(manifest), "--target", "vcsim")
        assert backup.returncode == 0, backup.stderr
        [archive] = (tmp_path / ".portable" / "archives" / APP / backup.stdout.split()[1]).glob("data*.tar.gz")
        with opened(archive) as plain, tarfile.open(plain) as tar:  # sealed at rest (tests/sealed_support.py)
            backed_up = {m.name.removeprefix("./"): hashlib.sha256(tar.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
                         for m in tar.getmembers() if m.isfile() and not m.name.removeprefix("./").startswith(".portable")}
        assert backed_up == written

        # --quiesce stops the container the VM bootstrap runs; this guest runs none (no docker in it):
        # said while planning, before anything changes (test_migrate_vsphere_quiesce.py quiesces one that does)
        refused = cli.run("migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "vcsim", "--to", "local", "--yes", "--quiesce")
        assert refused.returncode != 0 and "the guest has no `docker` command" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        assert vm_names(cli, manifest) == [vm]

        # without the guest account nothing can be read: one sentence naming what to set, nothing on Docker
        no_account = cli.run("migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "vcsim", "--to", "local", "--yes",
                             extra_env={"VSPHERE_GUEST_PASSWORD": ""})
        assert no_account.returncode == 2, no_account.stdout + no_account.stderr
        assert "VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD" in no_account.stderr and "Traceback" not in no_account.stderr
        assert subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.portable.app={APP}"], capture_output=True, text=True, timeout=30).stdout.split() == []

        moved = cli.run("migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "vcsim", "--to", "local", "--yes")
        assert moved.returncode == 0, moved.stderr + moved.stdout
        assert f"{APP} now runs on local." in moved.stdout
        assert "guest-s3cret" not in moved.stdout + moved.stderr

        # the service runs on Docker from exactly the files the VM had
        container = subprocess.run(["docker", "ps", "-q", "--filter", f"label=io.portable.app={APP}", "--filter", "label=io.portable.service=kv"],
                                   capture_output=True, text=True, check=True, timeout=30).stdout.split()
        assert len(container) == 1
        assert checksums_in(container[0], "/data") == written
        # the VMs are retired (and with them vcsim's guest container)
        assert subprocess.run(["docker", "ps", "-aq", "--filter", f"name=vcsim-{vm}-"], capture_output=True, text=True, timeout=30).stdout.split() == []
        status = cli.run("status", "-f", str(manifest), "-t", "local")
        assert "lives on: local" in status.stdout, status.stdout + status.stderr
        assert b"guest-s3cret" not in (tmp_path / "state.db").read_bytes()
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "vcsim", "--yes", "--volumes")
        cli.run("destroy", "-f", str(manifest), "-t", "local", "--yes", "--volumes")
        force_remove_app(APP)
