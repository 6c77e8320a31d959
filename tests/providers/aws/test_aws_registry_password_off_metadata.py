"""AWS: the registry password the instances log in with is in SSM Parameter Store, never in
their user data (issue 18, item 3: it used to travel there even after the secrets moved).

The image lives in a registry that demands a password (private_registry.py: the lab's own
registry has no auth; this one serves its storage). After deploy on moto, the password is a SecureString parameter under
the app's prefix, the instance boots with the instance profile allowed to read it, and nothing
the EC2 API shows (user data, attributes, tags) holds it (the leak scanner, also over the
CLI's output and the state). The user data EC2 holds, run on the lab's engine, reads the
password from moto's SSM, logs in and pulls the image that an anonymous pull is refused.

The boot takes its credentials as an instance does, from the instance metadata service: no
AWS_* variable in its environment, PORTABLE_IMDS pointed at moto's metadata routes (moto
serves /latest/meta-data/iam/security-credentials/ but not IMDSv2's token call, so the reader
falls back to IMDSv1 as botocore does). moto hands every caller the same made-up role
credentials and does not enforce IAM policies: this proves the path, not the role's scope.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from aws_support import MOTO_UBUNTU_AMI, REGIONS  # noqa: E402
from private_registry import USER, private_registry  # noqa: E402
from vm_lab import bootstrap_of, docker, free_loopback, vm_containers  # noqa: E402,F401

pytestmark = [pytest.mark.lab("moto", "docker", "registry", "images"), pytest.mark.timeout(300)]


def test_the_registry_password_is_read_from_ssm_at_boot_never_the_user_data(tmp_path: Path, moto_url: str, docker_host: str, leak_secrets: Any, lab_env: dict[str, Any],
                                                                            vm_containers: list[str]) -> None:  # noqa: F811
    import boto3

    app, region = f"s18reg{uuid.uuid4().hex[:6]}", random.choice(REGIONS)
    password = leak_secrets.values["LEAK_REGISTRY_PASSWORD"] = f"leak-registry-pw-{uuid.uuid4().hex}"
    clients = {s: boto3.client(s, endpoint_url=moto_url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing") for s in ("ec2", "ssm")}
    with private_registry(lab_env, tmp_path / "registry", password) as server:
        manifest = tmp_path / "portable.yaml"
        manifest.write_text(f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {app}}}
services:
  web:
    image: {server}/lab/web:1
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s}}  # healthy in a second, not the image's 30 s
targets:
  aws:
    provider: aws
    region: {region}
    endpoint_url: {moto_url}
    ami: {MOTO_UBUNTU_AMI}
    readiness: instance
    registry: {{server: '{server}', username: {USER}, password_from: 'env:S18_REGISTRY_PASSWORD'}}
""")
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=region, S18_REGISTRY_PASSWORD=password)
        env.pop("AWS_PROFILE", None)
        state = ["--state", str(tmp_path / "state.db")]
        leak_secrets.watch(tmp_path / "state.db")

        def metadata() -> list[Any]:
            found = clients["ec2"].describe_instances(Filters=[{"Name": "tag:portable:app", "Values": [app]}])["Reservations"]
            return [(i, clients["ec2"].describe_instance_attribute(InstanceId=i["InstanceId"], Attribute="userData")) for r in found for i in r["Instances"]]

        leak_secrets.probe("EC2 instance metadata (user data, tags, attributes)", metadata)
        try:
            done = leak_secrets.run([sys.executable, "-m", "portable.cli.main", "deploy", "-f", str(manifest), *state, "-t", "aws", "--yes"], env=env, timeout=240)
            assert done.returncode == 0, done.stdout + done.stderr
            name = f"/portable/{app}/aws/_registry-password"
            param = clients["ssm"].get_parameter(Name=name, WithDecryption=True)["Parameter"]
            assert param["Type"] == "SecureString" and param["Value"] == password
            [(inst, attribute)] = metadata()
            assert inst["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/portable-{app}-aws-{region}")
            assert leak_secrets.scan() == []
            import base64

            sent = base64.b64decode(attribute["UserData"]["Value"]).decode()
            assert f"fetch_secret _registry-password {name}" in sent  # the parameter's name, not the value
            anonymous = subprocess.run(["docker", "-H", docker_host, "pull", f"{server}/lab/web:1"], env=dict(os.environ, DOCKER_CONFIG=str(tmp_path / "anon")),
                                       capture_output=True, text=True, timeout=120)
            assert anonymous.returncode != 0  # the registry really refuses anonymous pulls
            vm_containers.append(f"vm-{app}-web")
            root = tmp_path / "vm-web"
            root.mkdir()
            (root / "bootstrap.sh").write_text(bootstrap_of(sent))
            boot_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # credentials from IMDS only
            boot_env.update(DOCKER_HOST=docker_host, PORTABLE_SKIP_HOST_SETUP="1", PORTABLE_ROOT=str(root),
                            PORTABLE_BIND_ADDRESS=free_loopback(8080), PORTABLE_IMDS=moto_url)
            booted = subprocess.run(["sh", str(root / "bootstrap.sh")], env=boot_env, capture_output=True, text=True, timeout=240)
            assert booted.returncode == 0, booted.stdout + booted.stderr
            assert password not in booted.stdout + booted.stderr
            assert docker(docker_host, "inspect", "-f", "{{.State.Running}}", f"vm-{app}-web") == "true"
            assert server in (root / "docker-config" / "config.json").read_text()  # logged in with what SSM gave
        finally:
            gone = subprocess.run([sys.executable, "-m", "portable.cli.main", "destroy", "-f", str(manifest), *state, "-t", "aws", "--yes"],
                                  env=env, capture_output=True, text=True, timeout=240)
            assert gone.returncode == 0, gone.stdout + gone.stderr
    assert clients["ssm"].get_parameters_by_path(Path=f"/portable/{app}/aws/", Recursive=True)["Parameters"] == []
