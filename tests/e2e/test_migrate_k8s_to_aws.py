"""Kubernetes (the lab's apiserver, and its real node for data) to AWS (moto) migrations.

A stateless app completes the whole walk: planned on AWS, instances created with its tags
and the app's containers in their user data, Kubernetes retired, the state moved.

A stateful app takes its data along. It runs on the lab's real node (kubelet + containerd):
the volume's data is written where that node keeps it (the claim's hostPath directory, which
the kubelet bind-mounts into the pod); the export reads it back through the apiserver's exec
into a helper pod that really runs tar in its container on that node. The archives land
in S3 (moto), and the restore step in the EC2 instance's user data, run here as the instance
would run it at first boot, rebuilds exactly the files that were written. The unreadable
volume case stays on kwok's nodes, whose exec runs in the claim's directory on this host.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import os
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import yaml
import pytest

from migration_support import BUCKET, this_migrations_archives

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
    restore_image: {restore_image}
{placement}  aws:
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


def placement(real_node: Any | None) -> str:
    """The k8s target's lines that put the app's pods (and export helpers) on the lab's real node."""
    if real_node is None:
        return ""
    entry = yaml.safe_dump(real_node.target_settings, sort_keys=False)
    return "".join(f"    {line}\n" for line in entry.splitlines())


def setup_app(tmp: Path, app: str, kubeconfig: str, moto_url: str, stateful: bool, real_node: Any | None = None) -> tuple[dict[str, str], str]:
    region = random.choice(("eu-west-3", "ca-central-1", "ap-northeast-2", "us-west-1"))
    # a real container needs the applets on PATH (sleep, tar): lab/web:1 has them, lab/busybox:1 only /bin/busybox
    manifest = MANIFEST.format(app=app, kubeconfig=kubeconfig, region=region, moto=moto_url, volumes=STATEFUL if stateful else "",
                               restore_image="lab/web:1" if real_node else "lab/busybox:1", placement=placement(real_node))
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
        text = user_data(moto_url, region, running[0]["InstanceId"])
        assert "lab/web:1" in text and "GREETING" in text
        assert k8s_objects(kubeconfig, app) == []  # Kubernetes retired
        status = run(tmp_path, "status", "-t", "aws", env=env)
        assert "lives on: aws" in status.stdout, status.stdout + status.stderr
    finally:
        run(tmp_path, "destroy", "-t", "aws", "--yes", "--volumes", env=env)
        run(tmp_path, "destroy", "-t", "k8s", "--yes", "--volumes", env=env)


def user_data(moto_url: str, region: str, instance_id: str) -> str:
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    raw = base64.b64decode(ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"])
    return gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()


def volume_dir(kubeconfig: str, namespace: str, claim: str) -> Path:
    """Where the lab's node keeps a claim's data: its PersistentVolume's hostPath."""
    get = ["kubectl", "--kubeconfig", kubeconfig]
    pv = subprocess.run([*get, "-n", namespace, "get", "pvc", claim, "-o", "jsonpath={.spec.volumeName}"], capture_output=True, text=True, check=True, timeout=60).stdout
    path = subprocess.run([*get, "get", "pv", pv, "-o", "jsonpath={.spec.hostPath.path}"], capture_output=True, text=True, check=True, timeout=60).stdout
    return Path(path)


def checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".portable")}


def test_stateful_app_moves_from_kubernetes_to_aws_with_its_data(tmp_path: Path, kubeconfig: str, moto_url: str, real_node: Any) -> None:
    app = "k8s-to-aws-data"
    env, region = setup_app(tmp_path, app, kubeconfig, moto_url, stateful=True, real_node=real_node)
    env["AWS_ENDPOINT_URL"] = moto_url
    try:
        deployed = run(tmp_path, "deploy", "-t", "k8s", "--yes", env=env)
        assert deployed.returncode == 0, deployed.stderr
        node = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", app, "get", "pod", "web-0", "-o", "jsonpath={.spec.nodeName}"],
                              capture_output=True, text=True, timeout=60).stdout
        assert node == real_node.name
        data = volume_dir(kubeconfig, app, "data-web-0")
        data.mkdir(parents=True, exist_ok=True)
        (data / "orders").mkdir(exist_ok=True)
        (data / "orders" / "1.json").write_text('{"id": 1, "total": 42}')
        (data / "blob.bin").write_bytes(random.randbytes(300_000))
        written = checksums(data)

        moved = run(tmp_path, "migrate", "--from", "k8s", "--to", "aws", "--yes", "--quiesce",
                    "--blob-store", f"s3://portable-archives/{app}", "--plaintext-transit", env=env)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert f"{app} now runs on aws." in moved.stdout

        # this migration's archives are in the blob store, with the checksums the journal recorded
        journal, s3, keys = this_migrations_archives(tmp_path, moto_url, app)
        # --quiesce scaled the writer to zero and waited for its pod to be gone before the final pass
        assert journal["steps"]["quiesce"]["output"] == {"quiesced": True, "stopped": ["StatefulSet/web"]}, journal["steps"]["quiesce"]
        assert [k.rsplit("/", 1)[1] for k in keys] == ["data.base.tar.gz", "data.final.tar.gz"], keys
        for archive in journal["archives"]:  # sealed at rest; the instance fetches the unsealed transit copy
            body = s3.get_object(Bucket=BUCKET, Key=f"{app}/{archive['key']}")["Body"].read()
            assert body.startswith(b"PORTABLE-SEALED") and archive["sealed"] is True
            transit = s3.get_object(Bucket=BUCKET, Key=f"{app}/transit/{archive['key']}")
            assert hashlib.sha256(transit["Body"].read()).hexdigest() == archive["sha256"]
            assert transit["ServerSideEncryption"] == "AES256"

        # the instance restores them at first boot: run its restore step as the instance would
        running = instances(moto_url, region, app)
        assert len(running) == 1
        boot = user_data(moto_url, region, running[0]["InstanceId"])
        step = re.search(r"printf '%s' (\S+) \| base64 -d >\"\$ROOT/restore-data\.sh\"", boot)
        assert step, "no restore step for volume data in the instance's user data"
        script = tmp_path / "restore-data.sh"
        script.write_bytes(base64.b64decode(step.group(1)))
        root = tmp_path / "instance"
        (root / "volumes" / "data").mkdir(parents=True)
        restored = subprocess.run(["sh", str(script)], env={**os.environ, "ROOT": str(root)}, capture_output=True, text=True, timeout=120)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert checksums(root / "volumes" / "data") == written

        assert k8s_objects(kubeconfig, app) == []  # Kubernetes retired
        helpers = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", app, "get", "pods", "-l", f"portable.io/helper={app}", "-o", "name"],
                                 capture_output=True, text=True, timeout=60).stdout.split()
        assert all("export" in h for h in helpers)  # only export helpers, and those are being deleted
        status = run(tmp_path, "status", "-t", "aws", env=env)
        assert "lives on: aws" in status.stdout, status.stdout + status.stderr
    finally:
        run(tmp_path, "destroy", "-t", "aws", "--yes", "--volumes", env=env)
        run(tmp_path, "destroy", "-t", "k8s", "--yes", "--volumes", env=env)


def test_unreadable_volume_fails_the_migration_before_aws_is_touched(tmp_path: Path, kubeconfig: str, moto_url: str) -> None:
    """The node cannot mount the claim (its directory is a plain file here), so no helper can
    read it: the migration stops with one sentence, AWS untouched, Kubernetes serving again."""
    app = "k8s-to-aws-broken"
    env, region = setup_app(tmp_path, app, kubeconfig, moto_url, stateful=True)
    env["AWS_ENDPOINT_URL"] = moto_url
    try:
        deployed = run(tmp_path, "deploy", "-t", "k8s", "--yes", env=env)
        assert deployed.returncode == 0, deployed.stderr
        data = volume_dir(kubeconfig, app, "data-web-0")
        if data.is_dir():
            data.rmdir()
        data.write_text("not a directory")
        # (an S3 blob store: AWS restores from inside and is refused a local one while planning)
        moved = run(tmp_path, "migrate", "--from", "k8s", "--to", "aws", "--yes", "--quiesce",
                    "--blob-store", f"s3://portable-archives/{app}", "--plaintext-transit", env=env)
        assert moved.returncode == 1, moved.stdout + moved.stderr
        assert "reading volume data in pod" in moved.stderr and "no exec found" in moved.stderr, moved.stderr
        assert "Traceback" not in moved.stderr
        assert "k8s keeps serving" in moved.stderr
        assert instances(moto_url, region, app) == []
        replicas = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", app, "get", "statefulset", "web", "-o", "jsonpath={.spec.replicas}"],
                                  capture_output=True, text=True, check=True, timeout=60).stdout
        assert replicas == "1"  # scaled back up after the failed copy
    finally:
        volume = volume_dir(kubeconfig, app, "data-web-0") if k8s_objects(kubeconfig, app) else None
        if volume is not None and volume.is_file():
            volume.unlink()
        run(tmp_path, "destroy", "-t", "k8s", "--yes", "--volumes", env=env)
