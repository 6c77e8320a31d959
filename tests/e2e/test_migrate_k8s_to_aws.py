"""Kubernetes (the lab's apiserver) to AWS (moto) migrations, at the control-plane level.

A stateless app completes the whole walk: planned on AWS, instances created with its tags
and the app's containers in their user data, Kubernetes retired, the state moved. For a
stateful app the volume must be read through exec into a pod, which kwok's simulated nodes
cannot serve: the test checks that this failure comes before any change on AWS, leaves the
Kubernetes workload serving (scaled back up), and says why in one sentence.
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import random
import subprocess
from pathlib import Path

import boto3
import pytest

pytestmark = [pytest.mark.lab("k8s", "moto"), pytest.mark.timeout(900)]

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {{name: {app}}}
services:
  web:
    image: lab/web:1
    env: {{GREETING: moved}}
    ports:
      - {{port: 8080, expose: public}}
    health:
      http: {{path: /cgi-bin/health, port: 8080}}
{volumes}targets:
  k8s:
    provider: kubernetes
    kubeconfig: {kubeconfig}
    namespace: {app}
    restore_image: lab/busybox:1
  aws:
    provider: aws
    region: {region}
    endpoint_url: {moto}
    ami: ami-1e749f67
    readiness: instance
"""
STATEFUL = """    volumes:
      - {volume: data, path: /data}
volumes:
  data: {size: 1Gi}
"""


def run(tmp: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["portable", *args, "-f", str(tmp / "portable.yaml"), "--state", str(tmp / "state.db")], capture_output=True, text=True, env=env, timeout=600)


def setup_app(tmp: Path, app: str, kubeconfig: str, moto_url: str, stateful: bool) -> tuple[dict[str, str], str]:
    region = random.choice(("eu-west-3", "ca-central-1", "ap-northeast-2", "us-west-1"))
    manifest = MANIFEST.format(app=app, kubeconfig=kubeconfig, region=region, moto=moto_url, volumes=STATEFUL if stateful else "")
    (tmp / "portable.yaml").write_text(manifest)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": region}
    env.pop("AWS_PROFILE", None)
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", app, "--ignore-not-found", "--wait=true"], capture_output=True, timeout=120)
    return env, region


def instances(moto_url: str, region: str, app: str) -> list[dict]:
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    found = ec2.describe_instances(Filters=[{"Name": "tag:portable:app", "Values": [app]}, {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return [i for r in found["Reservations"] for i in r["Instances"]]


def k8s_objects(kubeconfig: str, app: str) -> list[str]:
    out = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", app, "get", "deployments,statefulsets,services", "-l", f"app.kubernetes.io/instance={app}", "-o", "name"],
                         capture_output=True, text=True, timeout=60).stdout
    return out.split()


def test_stateless_app_moves_from_kubernetes_to_aws(tmp_path: Path, kubeconfig: str, moto_url: str) -> None:
    app = "k8s-to-aws"
    env, region = setup_app(tmp_path, app, kubeconfig, moto_url, stateful=False)
    try:
        deployed = run(tmp_path, "deploy", "-t", "k8s", "--yes", env=env)
        assert deployed.returncode == 0, deployed.stderr
        moved = run(tmp_path, "migrate", "--from", "k8s", "--to", "aws", "--yes", env=env)
        assert moved.returncode == 0, moved.stderr + moved.stdout
        assert f"{app} now runs on aws." in moved.stdout
        running = instances(moto_url, region, app)
        assert len(running) == 1
        tags = {t["Key"]: t["Value"] for t in running[0]["Tags"]}
        assert tags["portable:app"] == app and tags["portable:service"] == "web"
        ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
        raw = base64.b64decode(ec2.describe_instance_attribute(InstanceId=running[0]["InstanceId"], Attribute="userData")["UserData"]["Value"])
        text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
        assert "lab/web:1" in text and "GREETING" in text
        assert k8s_objects(kubeconfig, app) == []  # Kubernetes retired
        status = run(tmp_path, "status", "-t", "aws", env=env)
        assert "lives on: aws" in status.stdout, status.stdout + status.stderr
    finally:
        run(tmp_path, "destroy", "-t", "aws", "--yes", "--volumes", env=env)
        run(tmp_path, "destroy", "-t", "k8s", "--yes", "--volumes", env=env)


def test_stateful_export_from_kwok_fails_before_aws_is_touched(tmp_path: Path, kubeconfig: str, moto_url: str) -> None:
    app = "k8s-to-aws-data"
    env, region = setup_app(tmp_path, app, kubeconfig, moto_url, stateful=True)
    try:
        deployed = run(tmp_path, "deploy", "-t", "k8s", "--yes", env=env)
        assert deployed.returncode == 0, deployed.stderr
        moved = run(tmp_path, "migrate", "--from", "k8s", "--to", "aws", "--yes", "--quiesce", env=env)
        assert moved.returncode == 1, moved.stdout + moved.stderr
        assert "cannot read volume data from pod" in moved.stderr and "Traceback" not in moved.stderr
        assert instances(moto_url, region, app) == []
        sts = json.loads(subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", app, "get", "statefulset", "web", "-o", "json"],
                                        capture_output=True, text=True, check=True, timeout=60).stdout)
        assert sts["spec"]["replicas"] == 1  # still (or again) serving on Kubernetes
        helpers = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", app, "get", "pods", "-l", f"portable.io/helper={app}", "-o", "name"],
                                 capture_output=True, text=True, timeout=60).stdout.split()
        assert helpers == [] or all("export" in h for h in helpers)
    finally:
        run(tmp_path, "destroy", "-t", "k8s", "--yes", "--volumes", env=env)
