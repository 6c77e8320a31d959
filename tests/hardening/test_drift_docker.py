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
