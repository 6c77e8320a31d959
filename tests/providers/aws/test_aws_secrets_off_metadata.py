"""AWS: secret values are in SSM Parameter Store, never in the instance's metadata.

The shop's api mounts the secret `api-token`. After deploy, nothing the EC2 API shows about
any instance (user data, tags, attributes) holds its value; the SecureString parameter
does, tagged with the app and target, readable by the instance profile portable made for
exactly this app's parameters. The api's real user data, run on the lab's engine, reads the
value from moto's SSM at boot. Rotating the value (defect: the group spec held names only,
so `plan` showed nothing) replaces the api's instances, which read the new value; `destroy`
removes the parameter, the profile and the role. The leak scanner watches the CLI output,
the state, a saved plan and the metadata throughout.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from aws_inventory import instances, tags, user_data  # noqa: E402
from aws_support import Shop  # noqa: E402
from vm_lab import docker, free_loopback, run_vm, vm_containers  # noqa: E402,F401

pytestmark = pytest.mark.lab("moto", "docker", "registry")


def _metadata(shop: Shop) -> dict[str, Any]:
    """Everything the EC2 API tells about the app's instances, user data decoded."""
    ec2 = shop.client("ec2")
    out: dict[str, Any] = {}
    for inst in instances(shop):
        iid = inst["InstanceId"]
        attrs = {a: ec2.describe_instance_attribute(InstanceId=iid, Attribute=a) for a in ("userData", "instanceType", "disableApiTermination")}
        out[iid] = {"describe": inst, "attributes": attrs, "user_data": user_data(shop, iid).decode(), "tags": tags(inst)}
    return out


def _role(shop: Shop) -> str:
    return f"portable-shop-aws-{shop.region}"


def test_secrets_live_in_ssm_not_in_instance_metadata_and_rotate(aws_shop: Shop, leak_secrets: Any, docker_host: str, tmp_path: Path, vm_containers: list[str]) -> None:  # noqa: F811
    shop = aws_shop
    token = leak_secrets.value("SHOP_API_TOKEN")
    shop.env["SHOP_API_TOKEN"] = token
    leak_secrets.watch(shop.state, tmp_path / "plan.json")
    leak_secrets.probe("EC2 instance metadata (user data, tags, attributes)", lambda: _metadata(shop))

    def cli(*args: str) -> Any:
        done = shop.cli(*args)
        leak_secrets.record(f"portable {' '.join(args)}", done.stdout + done.stderr)
        return done

    deployed = cli("deploy", "--target", "aws", "--yes")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    ssm, iam = shop.client("ssm"), shop.client("iam")
    name = "/portable/shop/aws/api-token"
    param = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert param["Type"] == "SecureString" and param["Value"] == token
    ptags = {t["Key"]: t["Value"] for t in ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]}
    assert ptags["portable:app"] == "shop" and ptags["portable:target"] == "aws"

    api = [i for i in instances(shop, service="api") if i["State"]["Name"] in ("pending", "running")]
    assert api and all(i["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{_role(shop)}") for i in api)
    policy = iam.get_role_policy(RoleName=_role(shop), PolicyName="read-app-secrets")["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    reads = [s for s in policy["Statement"] if "ssm:GetParameter" in s["Action"]]
    assert [s["Resource"] for s in reads] == [f"arn:aws:ssm:{shop.region}:*:parameter/portable/shop/aws/*"]  # this app's, nothing else
    role_tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=_role(shop))["Tags"]}
    assert role_tags["portable:app"] == "shop" and role_tags["portable:target"] == "aws"
    assert leak_secrets.scan() == []

    # the user data EC2 holds really reads the value from moto's SSM at boot
    sent = user_data(shop, api[0]["InstanceId"]).decode()
    assert "fetch_secret api-token /portable/shop/aws/api-token" in sent
    vm_containers.append("vm-shop-api")
    booted = run_vm(sent, tmp_path / "vm-api", docker_host, free_loopback(8080))
    assert booted.returncode == 0, booted.stdout + booted.stderr
    assert docker(docker_host, "exec", "vm-shop-api", "cat", "/run/secrets/api-token") == token

    # rotation: a new value plans a replace of the api's instances only
    new = leak_secrets.rotate("SHOP_API_TOKEN")
    shop.env["SHOP_API_TOKEN"] = new
    planned = cli("plan", "--target", "aws", "--out", str(tmp_path / "plan.json"))
    assert planned.returncode == 0, planned.stderr
    assert "instance-group/api" in planned.stdout and "no changes" not in planned.stdout.lower()
    assert "instance-group/web" not in planned.stdout
    before = {i["InstanceId"] for i in api}
    rolled = cli("deploy", "--target", "aws", "--yes")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "no changes" not in rolled.stdout.lower()
    now = [i for i in instances(shop, service="api") if i["State"]["Name"] in ("pending", "running")]
    assert now and not before & {i["InstanceId"] for i in now}
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == new
    booted = run_vm(user_data(shop, now[0]["InstanceId"]).decode(), tmp_path / "vm-api-2", docker_host, free_loopback(8080))
    assert booted.returncode == 0, booted.stdout + booted.stderr
    assert docker(docker_host, "exec", "vm-shop-api", "cat", "/run/secrets/api-token") == new
    assert leak_secrets.scan() == []

    gone = cli("destroy", "--target", "aws", "--yes", "--volumes")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert ssm.get_parameters_by_path(Path="/portable/shop/aws/", Recursive=True)["Parameters"] == []
    assert _role(shop) not in [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]
    assert _role(shop) not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
