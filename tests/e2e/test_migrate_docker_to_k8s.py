"""A stateful app moves from the Docker engine to the lab's Kubernetes (issues 8, 18).

The app lands on the lab's real node (kubelet + containerd): the data is really exported from
Docker into archives in an S3 blob store (moto), sealed there; the StatefulSet carries an init
container that names those archives by checksum only (no URL, no key) and waits while portable
writes them, opened on this machine, into it through the API server's exec; moto is reached
at loopback only, which the node's pods cannot reach, so nothing in the cluster fetched
anything; the file written on Docker is in the pod's volume, the workload passes its real
readiness probe, and Docker is retired.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from docker_support import Cli, _build, ensure_images, force_remove_app, free_port, wait_for
from migration_support import BUCKET, this_migrations_archives

pytestmark = [pytest.mark.lab("docker", "k8s", "k8s_node", "moto"), pytest.mark.timeout(900)]

APP = "move-to-k8s"
MANIFEST = f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  kv:
    image: ${{WEB_IMAGE}}
    ports:
      - port: 8080
        expose: public
        published: ${{PORT_A}}
    volumes:
      - {{volume: data, path: /data}}
    health:
      http: {{path: /cgi-bin/health, port: 8080}}
      interval: 1s
volumes:
  data: {{size: 1Gi}}
targets:
  k8s:
    provider: kubernetes
    kubeconfig: ${{KUBECONFIG}}
    namespace: {APP}
    restore_image: ${{RESTORE_IMAGE}}
    node_selector: {{portable.dev/lab-node: real}}
    tolerations:
      - {{key: portable.dev/lab-node, operator: Equal, value: real, effect: NoSchedule}}
"""


def restore_image(registry: str) -> str:
    """An image for the restore init container: the lab's busybox applets plus a /tmp (the restore
    script stages each archive in mktemp's file; no lab image has /tmp), in the lab registry."""
    tag = f"{registry}/portable-test/restore:1"
    _build(tag, "FROM lab/web:1\nRUN mkdir -m 1777 /tmp\n")
    subprocess.run(["docker", "push", "-q", tag], check=True, capture_output=True, timeout=120)
    return tag


def kubectl(kubeconfig: str, *args: str) -> str:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=True, timeout=60).stdout


def test_stateful_app_moves_from_docker_to_kubernetes(tmp_path: Path, kubeconfig: str, moto_url: str, real_node: Any, lab: Any, registry: str) -> None:
    s3_url = moto_url  # loopback: this host reaches it, the node's pods do not (they are fed, they fetch nothing)
    assert real_node.target_settings["node_selector"] == {"portable.dev/lab-node": "real"}  # as MANIFEST spells it
    images = ensure_images()
    force_remove_app(APP)
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", APP, "--ignore-not-found", "--wait=true"], capture_output=True, timeout=120)
    port = free_port()
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    aws = {"AWS_ENDPOINT_URL": s3_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    cli = Cli(tmp_path / "state.db", {"WEB_IMAGE": images.web, "PORTABLE_PROXY_IMAGE": images.proxy, "PORT_A": str(port), "KUBECONFIG": kubeconfig,
                                   "RESTORE_IMAGE": restore_image(registry), **aws})
    try:
        assert cli.run("deploy", "-f", str(manifest), "--yes").returncode == 0
        wait_for(f"http://127.0.0.1:{port}/cgi-bin/count")
        subprocess.run(["docker", "exec", f"{APP}-kv-1", "sh", "-c", "echo precious > /data/precious.txt"], check=True)

        result = cli.run("migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "local", "--to", "k8s", "--yes", "--quiesce",
                         "--blob-store", f"s3://portable-archives/{APP}")
        assert result.returncode == 0, result.stderr + result.stdout
        assert f"{APP} now runs on k8s." in result.stdout

        # this migration's archives are in the blob store
        journal, s3, keys = this_migrations_archives(tmp_path, moto_url, APP)
        assert [k.rsplit("/", 1)[1] for k in keys] == ["data.base.tar.gz", "data.final.tar.gz"], keys
        # sealed at rest; no unsealed copy was ever written to the blob store
        assert all(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read(15) == b"PORTABLE-SEALED" for k in keys)
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{APP}/transit/").get("KeyCount") == 0
        assert "written into pod kv-0 (checksums verified in the pod)" in result.stdout + result.stderr

        # the StatefulSet names exactly those archives by checksum, and no URL, key or local file
        sts = json.loads(kubectl(kubeconfig, "-n", APP, "get", "statefulset", "kv", "-o", "json"))
        inits = sts["spec"]["template"]["spec"]["initContainers"]
        assert [c["name"] for c in inits] == ["restore-data"]
        script = inits[0]["command"][-1]
        for archive in journal["archives"]:
            assert archive["key"] in script and archive["sha256"] in script
        spec_text = json.dumps(sts["spec"])
        assert "://" not in spec_text and "Amz" not in spec_text and "Signature" not in spec_text, script
        assert ".unsealed-" not in spec_text and str(tmp_path) not in spec_text, script
        assert inits[0]["volumeMounts"] == [{"name": "data", "mountPath": "/portable-restore"}]
        assert sts["status"].get("availableReplicas") == 1

        # the pod really runs on the real node, restored: the file written on Docker is in its volume
        pod = json.loads(kubectl(kubeconfig, "-n", APP, "get", "pod", "kv-0", "-o", "json"))
        assert pod["spec"]["nodeName"] == real_node.name
        assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
        assert kubectl(kubeconfig, "-n", APP, "exec", "kv-0", "-c", "kv", "--", "cat", "/data/precious.txt") == "precious\n"

        # Docker is retired; the state says where the app lives
        assert subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.portable.app={APP}"], capture_output=True, text=True).stdout.split() == []
        status = cli.run("status", "-f", str(manifest), "-t", "k8s")
        assert "lives on: k8s" in status.stdout, status.stdout + status.stderr
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "k8s", "--yes", "--volumes")
        force_remove_app(APP)
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", APP, "--ignore-not-found", "--wait=false"], capture_output=True, timeout=60)
