"""Drift on the Docker engine: a replica stopped (`docker stop`) or removed (`docker rm`)
behind portable's back is listed by `plan`, exits 2 with --detailed-exitcode, and `deploy`
brings it back."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from drift_support import drift_app, drift_cycle

pytestmark = pytest.mark.lab("docker", "images")


def _web(target: Any, app: str) -> Any:
    found = target.client.containers.list(all=True, filters={"label": [f"{target.APP_LABEL}={app}", f"{target.SERVICE_LABEL}=web"]})
    assert len(found) == 1, f"expected one web container of {app}, found {[c.name for c in found]}"
    return found[0]


def test_docker_stop_is_drift_that_deploy_repairs(lab: Any, tmp_path: Path) -> None:
    with drift_app(lab, "docker", tmp_path) as (target, app):
        entry = drift_cycle(app, "docker", edit=lambda: _web(target, app.name).stop(timeout=1), service="web", field="state")
        assert (entry["desired"], entry["live"], entry["hint"]) == ("running", "exited", "docker stop?")
        assert _web(target, app.name).status == "running", "deploy did not start the stopped replica again"


def test_docker_rm_is_drift_that_deploy_repairs(lab: Any, tmp_path: Path) -> None:
    with drift_app(lab, "docker", tmp_path) as (target, app):
        entry = drift_cycle(app, "docker", edit=lambda: _web(target, app.name).remove(force=True), service="web", field="removed")
        assert entry["hint"] == "docker rm?"
        assert _web(target, app.name).status == "running", "deploy did not put the removed replica back"


def test_saved_plans_carry_the_repair_and_go_stale_on_new_drift(lab: Any, tmp_path: Path) -> None:
    """`plan --out` made after the drift repairs it when applied; one made before it refuses."""
    from drift_support import ok, portable

    with drift_app(lab, "docker", tmp_path) as (target, app):
        ok(app, "deploy", "--yes")
        before = tmp_path / "before.json"
        ok(app, "plan", "--out", str(before))
        _web(target, app.name).stop(timeout=1)
        stale = portable(app, "deploy", str(before))
        assert stale.returncode == 1, stale.stdout + stale.stderr
        assert "changed outside portable" in stale.stderr and "run plan again" in stale.stderr, stale.stderr
        assert _web(target, app.name).status == "exited", "a stale saved plan changed the target"
        after = tmp_path / "after.json"
        shown = ok(app, "plan", "--out", str(after))
        assert "web state running -> exited (docker stop?)" in shown, shown
        ok(app, "deploy", str(after))
        assert _web(target, app.name).status == "running", "the saved plan's repair did not start the replica"
        done = portable(app, "plan", "--detailed-exitcode")
        assert done.returncode == 0, done.stdout + done.stderr


def test_detailed_exitcode_is_2_for_a_manifest_change_without_drift(lab: Any, tmp_path: Path) -> None:
    from drift_support import ok, portable

    with drift_app(lab, "docker", tmp_path) as (target, app):
        ok(app, "deploy", "--yes")
        app.env["CT_GREETING"] = "two"
        done = portable(app, "plan", "--detailed-exitcode")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "spec changed" in done.stdout and "changed outside portable" not in done.stdout, done.stdout
