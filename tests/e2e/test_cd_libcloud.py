"""Build once, deploy by digest on a libcloud target (issue 20 item 1): libcloud's EC2 driver
against the lab's moto (through the test-only namespace proxy, see
tests/providers/libcloud/ns_proxy.py). The `build:` service is built on the lab's Docker
engine, pushed to the lab registry, and the node's user data (read back through the EC2 API)
runs exactly that digest; the plan showed it first.
"""
from __future__ import annotations

import base64
import gzip
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers" / "libcloud"))
from ns_proxy import NamespaceProxy  # noqa: E402

pytestmark = [pytest.mark.lab("docker", "registry", "moto"), pytest.mark.timeout(600)]


@pytest.fixture
def ns_proxy(moto_url: str) -> Iterator[NamespaceProxy]:
    with NamespaceProxy(moto_url) as proxy:
        yield proxy


def test_a_build_service_runs_by_digest_on_a_libcloud_node(tmp_path: Path, registry: str, moto_url: str, ns_proxy: NamespaceProxy) -> None:
    run = uuid.uuid4().hex[:6]
    app = f"cd-{run}"
    region = random.choice(("ca-central-1", "eu-west-3", "ap-northeast-2", "us-west-1"))
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "Dockerfile").write_text(f"FROM lab/web:1\nRUN echo {run} > /www/run.txt\n")
    doc = {"apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app},
           "services": {"web": {"build": "./site", "ports": [{"port": 8080}], "health": {"http": {"path": "/cgi-bin/health", "port": 8080}}}},
           "targets": {"cloud": {"provider": "libcloud", "driver": "ec2", "region": region, "image": "ami-1e749f67", "readiness": "state",
                                 "driver_options": {"host": "127.0.0.1", "port": ns_proxy.port, "secure": False, "signature_version": "4"},
                                 "registry": f"{registry}/cd-{run}"}}}
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBCLOUD_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")

    def portable(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "portable.cli.main", *args, "-t", "cloud", "-f", str(manifest), "--state", str(tmp_path / "s.db")],
                              capture_output=True, text=True, env=env, timeout=400)

    try:
        plan = portable("plan")
        assert plan.returncode == 0, plan.stderr
        ref = next(line.split(" -> ")[1].strip() for line in plan.stdout.splitlines() if line.strip().startswith("web: ") and " -> " in line)
        assert ref.startswith(f"{registry}/cd-{run}/{app}-web@sha256:"), plan.stdout
        deployed = portable("deploy", "--yes")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        assert "building " not in deployed.stderr, "built once, while planning"
        import boto3

        ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
        found = ec2.describe_instances(Filters=[{"Name": "tag:portable:app", "Values": [app]}, {"Name": "instance-state-name", "Values": ["running"]}])
        nodes = [i for r in found["Reservations"] for i in r["Instances"]]
        assert nodes, "no running node of the app on moto"
        for node in nodes:
            raw = base64.b64decode(ec2.describe_instance_attribute(InstanceId=node["InstanceId"], Attribute="userData")["UserData"]["Value"])
            data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            assert ref.encode() in data
    finally:
        portable("destroy", "--yes", "--quiet")
