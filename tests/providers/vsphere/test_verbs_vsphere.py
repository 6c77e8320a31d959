"""`portable scale` and `portable restart` on the vsphere target (vcsim): the normal plan/apply
path, so a scale clones more VMs for the service and a restart replaces its VMs blue/green;
`exec` without the guest OS account is refused in one sentence before vCenter is asked.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from json_schemas import validate

pytestmark = [pytest.mark.lab("vcsim"), pytest.mark.timeout(600)]


def _workers(cli: Any) -> dict[str, str]:
    """worker VM name -> its portable.replica mark (powered on ones)."""
    return {v.name: v.marks.get("portable.replica", "") for v in cli.vms() if v.marks.get("portable.service") == "worker" and v.power_state == "poweredOn"}


def test_scale_and_restart_on_vsphere(app_cli: Any) -> None:
    cli = app_cli
    cli.env["APP_NAME"] = f"verbs-vs{uuid.uuid4().hex[:6]}"  # the fixture destroys it by this name afterwards
    with cli.reporter():  # plays VMware Tools: reports the clones' guest IPs, as the other vcsim tests do
        _story(cli)


def _story(cli: Any) -> None:
    deployed = cli("deploy", "--yes", "--quiet")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    before = _workers(cli)
    assert len(before) == 2, before

    scaled = cli("scale", "worker=3", "-o", "json")
    assert scaled.returncode == 0, scaled.stderr
    assert validate("revision", json.loads(scaled.stdout))["kind"] == "scale"
    now = _workers(cli)
    assert len(now) == 3 and set(before) <= set(now), now

    restarted = cli("restart", "worker", "-o", "json")
    assert restarted.returncode == 0, restarted.stderr
    assert validate("revision", json.loads(restarted.stdout))["kind"] == "restart"
    after = _workers(cli)
    assert len(after) == 3 and not set(after) & set(now), (now, after)  # every worker VM replaced

    # exec goes through VMware Tools as the guest account (tests/e2e/test_exec_vsphere.py): without it, refused naming the variables
    no_guest = {k: v for k, v in cli.env.items() if k not in ("VSPHERE_GUEST_USER", "VSPHERE_GUEST_PASSWORD")}
    refused = subprocess.run([sys.executable, "-m", "portable.cli.main", "exec", "worker", "--target", "vcsim", "-f", str(cli.manifest), "--", "true"],
                             env=no_guest, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "set VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD" in refused.stderr, refused.stderr
