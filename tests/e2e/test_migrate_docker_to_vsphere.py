"""A stateful app moves from the Docker engine to vSphere VMs (the lab's vcsim) with its data.

The VM's guest is a real container (vcsim's `RUN.container` backing, see
test_migrate_vsphere_to_docker.py). The data written on Docker engine A is exported into
archives in an S3 blob store (moto); the vSphere target clones the VM with
`guestinfo.portable.restore = pending` (its vendor data holds the bootstrap meanwhile), and
once the VM's Tools answer, uploads the archives through vCenter's guest file transfer,
checks them with sha256sum in the guest and unpacks them where the bootstrap keeps the
volume, then says `done`. The guest then holds exactly the files Docker had; Docker is retired.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from docker_support import Cli, ensure_images, force_remove_app
from migration_support import BUCKET, this_migrations_archives
from test_migrate_vsphere_to_docker import checksums_in, guest_container, guest_image, vm_names

pytestmark = [pytest.mark.lab("docker", "vcsim", "moto"), pytest.mark.timeout(900)]

APP = "docker-to-vm"
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
  local:
    provider: docker
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
"""


def docker_checksums(container: str) -> dict[str, str]:
    return checksums_in(container, "/data")


def app_containers() -> list[str]:
    return subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.portable.app={APP}"], capture_output=True, text=True, check=True, timeout=30).stdout.split()


def guest_restore_key(vcsim: Any, vm_name: str) -> str | None:
    """guestinfo.portable.restore of the VM, read through the vSphere API as vCenter shows it."""
    return vm_extra_config(vcsim, vm_name).get("guestinfo.portable.restore")


def vm_extra_config(vcsim: Any, vm_name: str) -> dict[str, str]:
    """The VM's extraConfig (guestinfo user data included), read through the vSphere API."""
    import ssl

    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    si = SmartConnect(host=vcsim.host, port=vcsim.port, user=vcsim.user, pwd=vcsim.password, sslContext=ssl._create_unverified_context())
    try:
        view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim.VirtualMachine], True)
        [vm] = [v for v in view.view if v.name == vm_name]
        return {str(o.key): str(o.value) for o in vm.config.extraConfig}
    finally:
        Disconnect(si)


@pytest.fixture
def cli(tmp_path: Path, vcsim: Any, moto_url: str) -> Cli:
    images = ensure_images()
    force_remove_app(APP)
    env = {"WORKER_IMAGE": images.worker, "GUEST_IMAGE": guest_image(images.worker), "VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password,
           "VSPHERE_GUEST_USER": "root", "VSPHERE_GUEST_PASSWORD": "guest-s3cret",
           "AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           **{f"LAB_VC_{k.upper()}": str(getattr(vcsim, k)) for k in ("host", "port", "template", "datacenter", "cluster", "folder", "datastore", "network")}}
    return Cli(tmp_path / "state.db", env)


def test_stateful_app_moves_from_docker_to_vsphere_vms_with_its_data(tmp_path: Path, cli: Cli, vcsim: Any, moto_url: str) -> None:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    blob_store = f"s3://portable-archives/{APP}"
    try:
        deployed = cli.run("deploy", "-f", str(manifest), "-t", "local", "--yes")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        [source] = app_containers()
        subprocess.run(["docker", "exec", source, "sh", "-c", "mkdir -p /data/orders && echo '{\"id\": 7}' > /data/orders/7.json && "
                        "head -c 300000 /dev/urandom > /data/blob.bin && echo first > /data/notes.txt"], check=True, timeout=30)
        written = docker_checksums(source)
        assert set(written) == {"orders/7.json", "blob.bin", "notes.txt"}

        # without the guest account nothing can be written into the VM: one sentence naming what
        # to set; Docker keeps serving and nothing of the app is left on vSphere
        no_account = cli.run("migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "local", "--to", "vcsim", "--yes",
                             "--blob-store", blob_store, extra_env={"VSPHERE_GUEST_PASSWORD": ""})
        assert no_account.returncode == 2, no_account.stdout + no_account.stderr
        assert "VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD" in no_account.stderr and "Traceback" not in no_account.stderr
        assert app_containers() == [source]
        assert subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", source], capture_output=True, text=True, timeout=30).stdout.strip() == "true"
        assert vm_names(cli, manifest) == []

        moved = cli.run("migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "local", "--to", "vcsim", "--yes", "--quiesce",
                        "--blob-store", blob_store)
        assert moved.returncode == 0, moved.stderr + moved.stdout
        assert f"{APP} now runs on vcsim." in moved.stdout
        assert "volume data restored in VM" in moved.stdout + moved.stderr, moved.stdout + moved.stderr
        assert "guest-s3cret" not in moved.stdout + moved.stderr
        assert "X-Amz-Signature" not in moved.stdout + moved.stderr  # presigned URLs are not shown

        # the guest holds exactly the files Docker had, from this migration's two archives
        journal, s3, keys = this_migrations_archives(tmp_path, moto_url, APP)
        assert [k.rsplit("/", 1)[1] for k in keys] == ["data.base.tar.gz", "data.final.tar.gz"], keys
        # sealed at rest and opened on this machine only: no unsealed copy, no URL in the VM's metadata
        assert all(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read(15) == b"PORTABLE-SEALED" for k in keys)
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{APP}/transit/").get("KeyCount") == 0
        [vm] = vm_names(cli, manifest)
        metadata = json.dumps(vm_extra_config(vcsim, vm))
        assert moto_url.split("://", 1)[1] not in metadata and "Amz" not in metadata and ".unsealed-" not in metadata, metadata[:2000]
        guest = guest_container(vm)
        assert checksums_in(guest, GUEST_VOLUME) == written
        last = journal["archives"][-1]["sha256"]
        marker = subprocess.run(["docker", "exec", guest, "ls", "-a", GUEST_VOLUME], capture_output=True, text=True, check=True, timeout=30).stdout.split()
        assert f".portable-restored-{last[:16]}" in marker  # the bootstrap's own restore step sees it and does nothing
        assert ".portable-index.json" not in marker
        leftovers = subprocess.run(["docker", "exec", guest, "sh", "-c", "ls /tmp | grep portable-restore || true"], capture_output=True, text=True, timeout=30).stdout
        assert leftovers.strip() == ""  # the uploads are removed from the guest
        assert guest_restore_key(vcsim, vm) == "done"  # the guest's bootstrap may go on

        # Docker is retired; the state says where the app lives
        assert app_containers() == []
        status = cli.run("status", "-f", str(manifest), "-t", "vcsim")
        assert "lives on: vcsim" in status.stdout, status.stdout + status.stderr
        assert b"guest-s3cret" not in (tmp_path / "state.db").read_bytes()
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "vcsim", "--yes", "--volumes")
        cli.run("destroy", "-f", str(manifest), "-t", "local", "--yes", "--volumes")
        force_remove_app(APP)


def test_a_migration_killed_while_the_vm_waits_for_its_archives_resumes_with_the_same_data(tmp_path: Path, cli: Cli, vcsim: Any, moto_url: str) -> None:
    """SIGKILL as soon as the destination VM exists (cloned with the restore still pending);
    the same migrate again resumes: the VM that waited gets the archives, the data is Docker's."""
    import os
    import signal

    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    argv = ["portable", "migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "local", "--to", "vcsim", "--yes", "--quiesce",
            "--blob-store", f"s3://portable-archives/{APP}-resume"]
    try:
        assert cli.run("deploy", "-f", str(manifest), "-t", "local", "--yes").returncode == 0
        [source] = app_containers()
        subprocess.run(["docker", "exec", source, "sh", "-c", "head -c 2000000 /dev/urandom > /data/big.bin && echo kept > /data/kept.txt"], check=True, timeout=30)
        written = docker_checksums(source)

        # killed at the crash point right after the clone: the VM exists, its restore pending (a
        # kill on seeing the VM from outside could land after the delivery on a fast run)
        first = subprocess.run(argv, env={**os.environ, **cli.env, "PORTABLE_CRASHPOINT": "vm.after-create-instances"}, capture_output=True, text=True, timeout=600)
        assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr
        assert "volume data restored in VM" not in first.stdout + first.stderr
        assert vm_names(cli, manifest), "the killed migration left no destination VM"

        again = subprocess.run(argv, env={**os.environ, **cli.env}, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"{APP} now runs on vcsim." in again.stdout
        assert "volume data restored in VM" in again.stdout + again.stderr  # the rerun delivered what the killed run had not
        [vm] = vm_names(cli, manifest)
        assert checksums_in(guest_container(vm), GUEST_VOLUME) == written
        assert guest_restore_key(vcsim, vm) == "done"
        assert app_containers() == []
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "vcsim", "--yes", "--volumes")
        cli.run("destroy", "-f", str(manifest), "-t", "local", "--yes", "--volumes")
        force_remove_app(APP)
