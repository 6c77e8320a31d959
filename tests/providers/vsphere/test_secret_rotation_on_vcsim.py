"""Defect: a changed secret value was ignored on vSphere (the instance group's spec held
secret names only): `plan` showed no action and `deploy` said "no changes" while the VMs
kept the old value. The spec now holds a keyed digest of each value, so a rotated secret
plans a replace of the services that mount it (and only those), and deploy clones new VMs.
The leak scanner watches the CLI output and the state store throughout."""
from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pyVmomi")

pytestmark = pytest.mark.lab("vcsim")


def test_a_rotated_secret_replaces_the_vms_that_mount_it(app_cli: Any, leak_secrets: Any) -> None:
    app_cli.env["VSHOP_API_KEY"] = leak_secrets.value("LEAK_API_TOKEN")
    leak_secrets.watch(app_cli.state)

    def cli(*args: str) -> Any:
        done = app_cli(*args)
        leak_secrets.record(f"portable {' '.join(args)}", done.stdout + done.stderr)
        return done

    with app_cli.reporter():
        first = cli("deploy", "--yes")
        assert first.returncode == 0, first.stdout + first.stderr
        before = {vm.marks["portable.service"]: vm.name for vm in app_cli.vms()}
        same = cli("plan")
        assert same.returncode == 0 and "no changes" in same.stdout.lower(), same.stdout
        app_cli.env["VSHOP_API_KEY"] = leak_secrets.rotate("LEAK_API_TOKEN")
        planned = cli("plan")
        assert planned.returncode == 0, planned.stderr
        assert "instance-group/web" in planned.stdout and "no changes" not in planned.stdout.lower()
        assert "instance-group/kv" not in planned.stdout and "instance-group/worker" not in planned.stdout
        rolled = cli("deploy", "--yes")
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert "no changes" not in rolled.stdout.lower()
    after = {vm.marks["portable.service"]: vm.name for vm in app_cli.vms()}
    assert after["web"] != before["web"]  # a new VM booted with the new value
    assert after["kv"] == before["kv"]  # kv mounts no secret: untouched
