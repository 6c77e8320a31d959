"""Drift on AWS (moto): an EC2 instance stopped or terminated through boto3 behind
portable's back is listed by `plan`, exits 2 with --detailed-exitcode, and `deploy` puts a
running instance back in its place."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from drift_support import drift_app, drift_cycle

pytestmark = pytest.mark.lab("moto")


def _web_instances(target: Any, app: str, states: tuple[str, ...] = ("pending", "running", "stopping", "stopped")) -> list[dict[str, Any]]:
    return target._instances(app, "web", states)


def _only_web(target: Any, app: str) -> str:
    found = _web_instances(target, app)
    assert len(found) == 1, f"expected one web instance of {app}, found {[i['InstanceId'] for i in found]}"
    return str(found[0]["InstanceId"])


def test_ec2_instance_stopped_is_drift_that_deploy_repairs(lab: Any, tmp_path: Path) -> None:
    with drift_app(lab, "aws", tmp_path) as (target, app):
        entry = drift_cycle(app, "aws", edit=lambda: target.ec2.stop_instances(InstanceIds=[_only_web(target, app.name)]),
                            service="web", field="instance_state.0")
        assert (entry["desired"], entry["live"]) == ("running", "stopped")
        running = _web_instances(target, app.name, ("pending", "running"))
        assert len(running) == 1 and len(_web_instances(target, app.name)) == 1, "deploy did not leave exactly one running web instance"


def test_ec2_instance_terminated_is_drift_that_deploy_repairs(lab: Any, tmp_path: Path) -> None:
    with drift_app(lab, "aws", tmp_path) as (target, app):
        entry = drift_cycle(app, "aws", edit=lambda: target.ec2.terminate_instances(InstanceIds=[_only_web(target, app.name)]),
                            service="web", field="removed")
        assert entry["hint"] == "instances terminated outside portable?"
        assert len(_web_instances(target, app.name, ("pending", "running"))) == 1, "deploy did not put a running web instance back"
