"""`portable backup` then `portable restore` on Kubernetes, on the lab's real node (kubelet +
containerd): the claim really holds the backed-up files again.

The app's pod runs on the real node (node_selector/tolerations); the backup is read through a
helper pod; the restore scales the writer to zero, feeds the archive to a one-shot pod that
mounts the claim (checksum checked there), and scales the writer back: the new pod serves
from exactly the files of the backup, and what was written after the backup is gone.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from docker_support import Cli

pytestmark = [pytest.mark.lab("k8s", "k8s_node", "registry"), pytest.mark.timeout(600)]

APP = "restore-on-k8s"
MANIFEST = f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  kv:
    image: lab/web:1
    ports:
      - {{port: 8080}}
    volumes:
      - {{volume: data, path: /data}}
    health:
      http: {{path: /cgi-bin/health, port: 8080}}
      interval: 1s
volumes:
  data: {{size: 64Mi}}
targets:
  k8s:
    provider: kubernetes
    kubeconfig: ${{KUBECONFIG}}
    namespace: ${{NAMESPACE}}
    storage_class: standard
    restore_image: lab/web:1
    rollout_timeout: 180s
    node_selector: {{portable.dev/lab-node: real}}
    tolerations:
      - {{key: portable.dev/lab-node, operator: Equal, value: real, effect: NoSchedule}}
"""


def kubectl(kubeconfig: str, *args: str, stdin: bytes | None = None) -> str:
    out = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, check=True, timeout=120)
    return out.stdout.decode()


def pods(kubeconfig: str, ns: str) -> list[dict[str, Any]]:
    items = json.loads(kubectl(kubeconfig, "-n", ns, "get", "pods", "-o", "json"))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready_pod(kubeconfig: str, ns: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [p for p in pods(kubeconfig, ns) if p["metadata"]["name"] == "kv-0"
                 and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"kv-0 not ready within {timeout}s: {[p['metadata']['name'] for p in pods(kubeconfig, ns)]}")
        time.sleep(1)


def checksums(kubeconfig: str, ns: str) -> dict[str, str]:
    out = kubectl(kubeconfig, "-n", ns, "exec", "kv-0", "-c", "kv", "--", "sh", "-c", "cd /data && find . -type f ! -name '.portable*' -exec sha256sum {} +")
    return {line.split(None, 1)[1].removeprefix("./"): line.split(None, 1)[0] for line in out.splitlines()}


def test_restore_puts_the_backup_back_into_the_claim_on_the_real_node(tmp_path: Path, kubeconfig: str, real_node: Any) -> None:
    ns = f"pt-restore-{int(time.time()) % 100000}"
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    cli = Cli(tmp_path / "state.db", {"KUBECONFIG": kubeconfig, "NAMESPACE": ns})
    try:
        deployed = cli.run("deploy", "-f", str(manifest), "-t", "k8s", "--yes")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        first = ready_pod(kubeconfig, ns)
        assert first["spec"]["nodeName"] == real_node.name
        kubectl(kubeconfig, "-n", ns, "exec", "-i", "kv-0", "-c", "kv", "--", "sh", "-c",
                "mkdir -p /data/orders && echo '{\"id\": 7}' > /data/orders/7.json && cat > /data/blob.bin", stdin=bytes(range(256)) * 2000)
        backed_up = checksums(kubeconfig, ns)
        assert set(backed_up) == {"orders/7.json", "blob.bin"}

        backup = cli.run("backup", "-f", str(manifest), "-t", "k8s")
        assert backup.returncode == 0, backup.stdout + backup.stderr
        backup_id = backup.stdout.split()[1]

        # written after the backup: changed, added and removed files
        kubectl(kubeconfig, "-n", ns, "exec", "kv-0", "-c", "kv", "--", "sh", "-c",
                "echo changed > /data/orders/7.json && echo later > /data/later.txt && rm /data/blob.bin")
        assert checksums(kubeconfig, ns) != backed_up

        refused = cli.run("restore", "-f", str(manifest), "-t", "k8s", "--from", "no-such-backup", "--yes")
        assert refused.returncode == 2 and "no backup 'no-such-backup'" in refused.stderr, refused.stderr
        assert ready_pod(kubeconfig, ns)["metadata"]["uid"] == first["metadata"]["uid"]  # bad input stopped nothing

        restored = cli.run("restore", "-f", str(manifest), "-t", "k8s", "--from", backup_id, "--yes")
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "restored volumes: data" in restored.stdout

        # the writer was stopped (a new pod), and serves again from exactly the backed-up files
        again = ready_pod(kubeconfig, ns)
        assert again["metadata"]["uid"] != first["metadata"]["uid"]
        assert again["spec"]["nodeName"] == real_node.name
        assert checksums(kubeconfig, ns) == backed_up
        # the one-shot restore pod is gone
        deadline = time.monotonic() + 60
        while any(p["metadata"]["name"] != "kv-0" for p in pods(kubeconfig, ns)) and time.monotonic() < deadline:
            time.sleep(1)
        assert [p["metadata"]["name"] for p in pods(kubeconfig, ns)] == ["kv-0"]
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "k8s", "--yes", "--volumes")
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", ns, "--ignore-not-found", "--wait=false"], capture_output=True, timeout=60)
