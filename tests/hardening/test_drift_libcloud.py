"""Drift on libcloud (its EC2 driver on moto): a node stopped behind portable's back is
listed by `plan`, exits 2 with --detailed-exitcode, and `deploy` has a running node again."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from drift_support import drift_app, drift_cycle

pytestmark = pytest.mark.lab("moto")


def _web_nodes(target: Any, app: str) -> list[dict[str, Any]]:
    return target._instances(app, "web")


def test_node_stopped_is_drift_that_deploy_repairs(lab: Any, tmp_path: Path) -> None:
    with drift_app(lab, "libcloud", tmp_path) as (target, app):
        def stop() -> None:
            (node,) = _web_nodes(target, app.name)
            target.ec2.stop_instances(InstanceIds=[node["InstanceId"]])  # the node's id is its instance's

        entry = drift_cycle(app, "libcloud", edit=stop, service="web", field="instance_state.0")
        assert (entry["desired"], entry["live"]) == ("running", "stopped")
        states = [n["State"]["Name"] for n in _web_nodes(target, app.name)]
        assert states in (["running"], ["pending"]), f"after deploy the web nodes are {states}"
