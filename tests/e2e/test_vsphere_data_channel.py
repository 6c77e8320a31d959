"""Reading a vSphere app's volumes needs the guest account VMware Tools runs commands as: it is
checked while planning (the DATA_CHANNEL role), so even `migrate --dry-run` and `backup`
without it fail at once with exit 2 naming the variables, and with it the dry run reports
what would move. On vcsim's container-backed guest, the check really runs `true` in the guest.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from docker_support import Cli, ensure_images, force_remove_app
from test_migrate_vsphere_to_docker import MANIFEST, guest_image, vm_names

pytestmark = [pytest.mark.lab("docker", "vcsim"), pytest.mark.timeout(600)]

APP = "vm-to-docker"  # the manifest of test_migrate_vsphere_to_docker.py


def test_the_guest_account_is_checked_while_planning(tmp_path: Path, vcsim: Any) -> None:
    images = ensure_images()
    force_remove_app(APP)
    env = {"WORKER_IMAGE": images.worker, "GUEST_IMAGE": guest_image(images.worker), "VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password,
           "VSPHERE_GUEST_USER": "root", "VSPHERE_GUEST_PASSWORD": "guest-s3cret",
           **{f"LAB_VC_{k.upper()}": str(getattr(vcsim, k)) for k in ("host", "port", "template", "datacenter", "cluster", "folder", "datastore", "network")}}
    cli = Cli(tmp_path / "state.db", env)
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    try:
        assert cli.run("deploy", "-f", str(manifest), "-t", "vcsim", "--yes").returncode == 0
        [vm] = vm_names(cli, manifest)
        for command in (["migrate", "--from", "vcsim", "--to", "local", "--dry-run"], ["backup", "-t", "vcsim"]):
            refused = cli.run(*command[:1], "-f", str(manifest), *command[1:], extra_env={"VSPHERE_GUEST_USER": ""})
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert "VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD" in refused.stderr and "Traceback" not in refused.stderr
        assert not (tmp_path / ".portable" / "archives").exists()  # nothing was read or staged
        preview = cli.run("migrate", "-f", str(manifest), "--from", "vcsim", "--to", "local", "--dry-run")
        assert preview.returncode == 0, preview.stdout + preview.stderr
        assert "data" in preview.stdout
        assert vm_names(cli, manifest) == [vm]
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "vcsim", "--yes", "--volumes")
        force_remove_app(APP)
