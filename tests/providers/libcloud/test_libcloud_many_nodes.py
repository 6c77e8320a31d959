"""A libcloud EC2 account holding more than one page of instances (issue 17's crash matrix
found it): libcloud's EC2 driver read only the first page of DescribeInstances (100), so once a
region held more (terminated ones count), a deploy waited for its own new instance until the
boot timeout and failed. Now every page is read: the deploy succeeds, `plan` is empty and
destroy leaves nothing. Real moto, through the libcloud tests' namespace proxy."""
from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
from contract_app import Apps  # noqa: E402
from contract_base import MOTO_UBUNTU_AMI, wait_until  # noqa: E402
from contract_clouds import LibcloudTarget  # noqa: E402

pytestmark = [pytest.mark.lab("moto"), pytest.mark.timeout(600)]


def _instances_in_region(ec2: Any) -> int:
    return sum(len(r["Instances"]) for page in ec2.get_paginator("describe_instances").paginate() for r in page["Reservations"])


def test_deploy_sees_its_instance_in_a_region_holding_more_than_a_page_of_them(lab: Any, tmp_path: Path) -> None:
    target = LibcloudTarget(lab.require("moto"), tmp_path)
    apps = Apps(target, tmp_path / "apps")
    try:
        missing = 101 - _instances_in_region(target.ec2)
        if missing > 0:  # older, terminated instances fill the first page
            made = target.ec2.run_instances(ImageId=MOTO_UBUNTU_AMI, MinCount=missing, MaxCount=missing, InstanceType="t2.micro")
            target.ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in made["Instances"]])
        assert _instances_in_region(target.ec2) > 100
        app = apps.new(f"hard-pg{uuid.uuid4().hex[:6]}", settings={**target.settings("x"), "boot_timeout": 30})
        out = app.ok("deploy", "--yes")  # before: "could not wait for the instances of web: Timed out"
        assert f"{app.name} on ct: revision 1 deployed." in out
        assert len(target.objects(app.name)["instances"]) == 1
        assert app.plan_actions() == []
        app.ok("destroy", "--yes", "--volumes")
        assert wait_until(lambda: not target.objects(app.name)["instances"], 60), target.objects(app.name)
    finally:
        apps.destroy_all()
        target.close([a.name for a in apps.made])
