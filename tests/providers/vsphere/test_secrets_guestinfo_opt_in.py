"""Secrets never sit in guestinfo by default (issue 18, item 3): without the guest account
(VSPHERE_GUEST_USER / VSPHERE_GUEST_PASSWORD) portable cannot write them into the guest
through VMware Tools, so an app that mounts a secret is refused while planning (exit 2, at the
service's `secrets:`, naming the variables and the opt-in), and vcsim holds no VM and no disk
of it afterwards. With `allow_secrets_in_metadata: true` on the target the deploy goes on as
before, the values in guestinfo.userdata, and plan and deploy warn per service.

The test app's target (app/portable.yaml) takes the opt-in from VC_SECRETS_IN_METADATA
(default true, as the other vcsim tests need: vcsim runs no guest to write into).
"""
from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyVmomi")

pytestmark = pytest.mark.lab("vcsim")

TEST_APP = Path(__file__).parent / "app" / "portable.yaml"  # conftest's app_cli manifest (conftest is not imported: ambiguous across folders)
NO_ACCOUNT = {"VSPHERE_GUEST_USER": "", "VSPHERE_GUEST_PASSWORD": ""}
REFUSAL = ("services.web.secrets: target `vcsim` has no guest account (VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD are not both set), "
           "so these secret values would ride in guestinfo (the VMs' extraConfig), readable through the vSphere API: "
           "set both variables so portable writes them through VMware Tools after boot, "
           "or set `allow_secrets_in_metadata: true` on the target to accept that")
WARNING = ("! services.web.secrets: on target vcsim their values ride in guestinfo (the VM's extraConfig), readable through the vSphere API: "
           "set VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD (the guest account) so portable writes them through VMware Tools after boot")


def test_without_the_guest_account_an_app_with_secrets_is_refused_while_planning(app_cli: Any, tmp_path: Path) -> None:
    app_cli.manifest = tmp_path / "portable.yaml"  # a copy: the migration's journal goes beside it
    shutil.copy(TEST_APP, app_cli.manifest)
    app_cli.env.update(NO_ACCOUNT, VC_SECRETS_IN_METADATA="false", VSHOP_API_KEY="refused-not-shown")
    validated = app_cli("validate", "-t", "vcsim", targeted=False)
    migrated = app_cli("migrate", "--from", "local", "--to", "vcsim", "--yes", "--state", str(app_cli.state), targeted=False)
    for done in (validated, app_cli("plan"), app_cli.deploy(), migrated):
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"portable.yaml:20:5: {REFUSAL}" in done.stderr, done.stderr  # at web's `secrets:`
        assert "Traceback" not in done.stderr and "refused-not-shown" not in done.stdout + done.stderr
        assert "services.kv" not in done.stderr  # kv mounts no secret
    assert app_cli.vms(None) == []  # nothing cloned
    assert app_cli.disk_files() == []  # and no data disk made


def test_allow_secrets_in_metadata_deploys_them_in_guestinfo_with_the_warning(app_cli: Any) -> None:
    app_cli.env.update(NO_ACCOUNT, VC_SECRETS_IN_METADATA="true", VSHOP_API_KEY="accepted-in-guestinfo")
    planned = app_cli("plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert WARNING in planned.stdout and "accepted-in-guestinfo" not in planned.stdout + planned.stderr
    with app_cli.reporter():
        done = app_cli.deploy()
    assert done.returncode == 0, done.stdout + done.stderr
    assert WARNING in done.stdout and "accepted-in-guestinfo" not in done.stdout + done.stderr
    [web] = [vm for vm in app_cli.vms() if vm.marks.get("portable.service") == "web"]
    encoded = base64.b64encode(b"accepted-in-guestinfo").decode()
    assert f"write_secret api-key {encoded}" in web.decoded("guestinfo.userdata")  # what the target accepted
