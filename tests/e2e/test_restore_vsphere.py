"""`portable backup` then `portable restore` on vSphere VMs (the lab's vcsim, container-backed
guest): the restore goes into the running VM through VMware Tools' guest operations.

The backup is read out of the guest (tar through guest operations); after the data changed,
`portable restore` uploads the archive through vCenter's guest file transfer, checks it with
sha256sum in the guest, replaces the volume's contents with it and removes the upload: the
guest holds exactly the backed-up files again, in the same VM (no redeploy).
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from docker_support import Cli, ensure_images, force_remove_app
from test_migrate_vsphere_to_docker import MANIFEST, checksums_in, guest_container, guest_image, vm_names

pytestmark = [pytest.mark.lab("docker", "vcsim"), pytest.mark.timeout(600)]

APP = "vm-to-docker"  # the manifest of test_migrate_vsphere_to_docker.py, its vcsim target only
GUEST_VOLUME = "/var/lib/portable/volumes/data"


def guest_sh(container: str, script: str, stdin: bytes | None = None) -> None:
    subprocess.run(["docker", "exec", "-i", container, "sh", "-c", script], input=stdin, check=True, timeout=30)


@pytest.fixture
def cli(tmp_path: Path, vcsim: Any) -> Cli:
    images = ensure_images()
    force_remove_app(APP)
    env = {"WORKER_IMAGE": images.worker, "GUEST_IMAGE": guest_image(images.worker), "VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password,
           "VSPHERE_GUEST_USER": "root", "VSPHERE_GUEST_PASSWORD": "guest-s3cret",
           **{f"LAB_VC_{k.upper()}": str(getattr(vcsim, k)) for k in ("host", "port", "template", "datacenter", "cluster", "folder", "datastore", "network")}}
    return Cli(tmp_path / "state.db", env)


def test_restore_replaces_the_volume_in_the_running_vm_through_guest_operations(tmp_path: Path, cli: Cli) -> None:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    try:
        deployed = cli.run("deploy", "-f", str(manifest), "-t", "vcsim", "--yes")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        [vm] = vm_names(cli, manifest)
        guest = guest_container(vm)
        guest_sh(guest, f"mkdir -p {GUEST_VOLUME}/orders && echo '{{\"id\": 7}}' > {GUEST_VOLUME}/orders/7.json && cat > {GUEST_VOLUME}/blob.bin",
                 stdin=bytes(range(256)) * 1500)
        backed_up = checksums_in(guest, GUEST_VOLUME)
        assert set(backed_up) == {"orders/7.json", "blob.bin"}

        backup = cli.run("backup", "-f", str(manifest), "-t", "vcsim")
        assert backup.returncode == 0, backup.stdout + backup.stderr
        backup_id = backup.stdout.split()[1]

        # written after the backup: changed, added and removed files
        guest_sh(guest, f"echo changed > {GUEST_VOLUME}/orders/7.json && echo later > {GUEST_VOLUME}/later.txt && rm {GUEST_VOLUME}/blob.bin")
        assert checksums_in(guest, GUEST_VOLUME) != backed_up

        # without the guest account: one sentence naming what to set, the data untouched
        no_account = cli.run("restore", "-f", str(manifest), "-t", "vcsim", "--from", backup_id, "--yes", extra_env={"VSPHERE_GUEST_PASSWORD": ""})
        assert no_account.returncode == 2, no_account.stdout + no_account.stderr
        assert "VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD" in no_account.stderr and "Traceback" not in no_account.stderr
        assert set(checksums_in(guest, GUEST_VOLUME)) == {"orders/7.json", "later.txt"}

        restored = cli.run("restore", "-f", str(manifest), "-t", "vcsim", "--from", backup_id, "--yes")
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "restored volumes: data" in restored.stdout
        assert "guest-s3cret" not in restored.stdout + restored.stderr

        # the same VM (restored in place, not redeployed) holds exactly the backed-up files
        assert vm_names(cli, manifest) == [vm] and guest_container(vm) == guest
        assert checksums_in(guest, GUEST_VOLUME) == backed_up
        def listing(path: str) -> list[str]:
            return subprocess.run(["docker", "exec", guest, "ls", "-a", path], capture_output=True, text=True, check=True, timeout=30).stdout.split()

        assert not [f for f in listing("/tmp") if f.startswith("portable-restore")]  # the upload is removed
        assert ".portable-index.json" not in listing(GUEST_VOLUME)
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "vcsim", "--yes", "--volumes")
        force_remove_app(APP)
