"""Build once, push, deploy by digest (issue 20 item 1): one `build:` service is built a single
time on the lab's Docker engine, pushed to the lab registry, and the same digest runs on
Docker, Kubernetes (the real node: containerd pulls it from 127.0.0.1:5000), AWS (moto: the
digest is in the instance's user data, read back through the EC2 API) and vSphere (vcsim:
in the VM's guestinfo.userdata, read back through the vSphere API).
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers" / "vsphere"))
from vcenter import GuestIpReporter, Lab, app_vms, connect  # noqa: E402

pytestmark = [pytest.mark.lab("docker", "registry", "k8s", "k8s_node", "moto", "vcsim"), pytest.mark.timeout(900)]

DOCKERFILE = """\
FROM lab/web:1 AS base
ARG STAMP=unset
RUN echo "$STAMP" > /www/stamp.txt
FROM base AS extra
RUN echo extra > /www/extra.txt
"""


def cli(manifest: Path, state: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(manifest), "--state", str(state)],
                          capture_output=True, text=True, env=env, timeout=600)


def eventually(what: str, fn: Any, timeout: float = 120) -> Any:
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timeout ({timeout}s) waiting for {what}")
        time.sleep(1)


def kubectl(kubeconfig: str, *args: str) -> str:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=True, timeout=60).stdout


def test_one_build_runs_by_the_same_digest_on_docker_kubernetes_aws_and_vsphere(
        tmp_path: Path, registry: str, kubeconfig: str, real_node: Any, moto_url: str, vcsim: Any) -> None:
    run = uuid.uuid4().hex[:6]
    app, prefix = f"cd-{run}", f"cd-{run}"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "Dockerfile").write_text(DOCKERFILE)
    region = random.choice(("eu-west-3", "ca-central-1", "ap-northeast-2"))
    reg = f"{registry}/{prefix}"
    targets = {
        "docker": {"provider": "docker", "registry": reg},
        "k8s": {"provider": "kubernetes", "kubeconfig": kubeconfig, "namespace": app, "storage_class": "standard", "rollout_timeout": "180s",
                "registry": reg, **real_node.target_settings},
        "aws": {"provider": "aws", "region": region, "endpoint_url": moto_url, "ami": "ami-1e749f67", "readiness": "instance", "registry": reg},
        "vcsim": {"provider": "vsphere", "host": vcsim.host, "port": int(vcsim.port), "insecure": True, "boot_timeout": 60, "registry": reg,
                  **{k: getattr(vcsim, k) for k in ("datacenter", "template", "cluster", "folder", "datastore", "network")}},
    }
    doc = {"apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app},
           "services": {"web": {"build": {"context": "./site", "args": {"STAMP": run}, "target": "base"},
                                "ports": [{"port": 8080}], "health": {"http": {"path": "/cgi-bin/health", "port": 8080}}}},
           "targets": targets}
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    state = tmp_path / "state.db"
    env = {**os.environ, "PORTABLE_PROXY_IMAGE": "lab/kamal-proxy:1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password}
    lab = Lab(vcsim.host, int(vcsim.port), vcsim.user, vcsim.password, vcsim.datastore)
    try:
        first = cli(manifest, state, env, "deploy", "-t", "docker", "--yes")
        assert first.returncode == 0, first.stderr + first.stdout
        assert first.stderr.count("building ") == 1, first.stderr
        ref = next(line.split(" -> ")[1].strip() for line in first.stdout.splitlines() if line.strip().startswith("web: ") and " -> " in line)
        assert ref.startswith(f"{registry}/{prefix}/{app}-web@sha256:"), first.stdout
        digest = ref.split("@")[1]

        # docker: the container runs the digest, with the build arg and only the `base` stage
        container = json.loads(subprocess.run(["docker", "inspect", f"{app}-web-1"], capture_output=True, text=True, check=True).stdout)[0]
        assert container["Config"]["Image"] == ref
        stamp = subprocess.run(["docker", "exec", f"{app}-web-1", "cat", "/www/stamp.txt"], capture_output=True, text=True)
        assert stamp.stdout.strip() == run
        assert subprocess.run(["docker", "exec", f"{app}-web-1", "test", "-e", "/www/extra.txt"]).returncode == 1

        # kubernetes: the plan shows the digest, nothing is built again, the real node pulls and runs it
        plan = cli(manifest, state, env, "plan", "-t", "k8s")
        assert plan.returncode == 0, plan.stderr
        assert ref in plan.stdout, plan.stdout
        deployed = cli(manifest, state, env, "deploy", "-t", "k8s", "--yes")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        assert "building " not in deployed.stderr
        pods = json.loads(kubectl(kubeconfig, "-n", app, "get", "pods", "-o", "json"))["items"]
        [pod] = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        assert pod["spec"]["nodeName"] == real_node.name
        assert pod["spec"]["containers"][0]["image"] == ref
        [status] = pod["status"]["containerStatuses"]
        assert status["ready"] and status["imageID"].endswith(digest), status

        # aws (moto): the instance's user data pulls and runs the digest
        deployed = cli(manifest, state, env, "deploy", "-t", "aws", "--yes")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        import boto3

        ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
        found = ec2.describe_instances(Filters=[{"Name": "tag:portable:app", "Values": [app]}, {"Name": "instance-state-name", "Values": ["running"]}])
        instances = [i for r in found["Reservations"] for i in r["Instances"]]
        assert instances, "no running instance of the app on moto"
        for inst in instances:
            raw = base64.b64decode(ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")["UserData"]["Value"])
            data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            assert ref.encode() in data

        # vsphere (vcsim): the VM's user data pulls and runs the digest
        with GuestIpReporter(lab, app):
            deployed = cli(manifest, state, env, "deploy", "-t", "vcsim", "--yes")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        with connect(lab) as content:
            vms = app_vms(content, app)
        assert vms, "no VM of the app on vcsim"
        for vm in vms:
            assert ref in base64.b64decode(vm.extra_config["guestinfo.userdata"]).decode(errors="replace")
    finally:
        for target in ("vcsim", "aws", "k8s", "docker"):
            with GuestIpReporter(lab, app) if target == "vcsim" else _nothing():
                cli(manifest, state, env, "destroy", "-t", target, "--yes", "--quiet")
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", app, "--ignore-not-found", "--wait=false"], capture_output=True, timeout=60)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
