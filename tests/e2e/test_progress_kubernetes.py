"""Progress users can follow (issue 20 item 5) on Kubernetes, on the lab's real node, under a
pseudo-terminal, through the CLI.

`deploy --yes` of an app with a `build:` service of two replicas: the image is built on the
lab's Docker engine and pushed to the lab registry, its push shown as a TRANSFER row in bytes
with a rate; while the Deployment rolls out, the table counts its replicas as the pods become
ready (a frame with web below 2/2 whose step is the rollout's status line) and ends at
`web 2/2 ready`. `portable backup` then shows the volume read out of the cluster (through the
helper pod's exec stream) as a TRANSFER row of about the size of the file written into it.
"""
from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_progress_docker import ANSI, _screen_lines, last_frame, run_on_terminal

pytestmark = [pytest.mark.lab("docker", "registry", "k8s", "k8s_node"), pytest.mark.timeout(400)]

DOCKERFILE = """\
FROM lab/web:1
ARG STAMP=unset
RUN head -c 3000000 /dev/urandom > /www/noise.bin && echo "$STAMP" > /www/stamp.txt
"""
BYTES_ROW = r"\d+(?:\.\d)? [kMG]?B / \d+(?:\.\d)? [kMG]?B +\d+\.\d [kMG]?B/s +done"


def transfers(output: str) -> dict[str, str]:
    """Every TRANSFER row of the last frame: what -> bytes, rate, state."""
    lines = _screen_lines(output)
    start = max(i for i, line in enumerate(lines) if line.split()[:2] == ["TRANSFER", "BYTES"])
    rows: dict[str, str] = {}
    for line in lines[start + 1:]:
        m = re.match(r"^(\S+ \S+(?: (?:<-|->) \S+(?: \(\w+\))?)?) +(\d.*\S)$", line.rstrip())
        if not m:
            break
        rows[m.group(1)] = m.group(2)
    return rows


def kubectl(kubeconfig: str, *args: str) -> str:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=True, timeout=120).stdout


def test_kubernetes_deploy_counts_replicas_and_shows_push_and_backup_bytes(tmp_path: Path, registry: str, kubeconfig: str, real_node: Any) -> None:
    run = uuid.uuid4().hex[:6]
    app = f"progress-k8s-{run}"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "Dockerfile").write_text(DOCKERFILE)
    health = {"http": {"path": "/cgi-bin/health", "port": 8080}, "interval": "1s"}
    doc = {"apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app},
           "services": {"web": {"build": {"context": "./site", "args": {"STAMP": run}}, "replicas": 2, "ports": [{"port": 8080}], "health": health},
                        "kv": {"image": "lab/web:1", "ports": [{"port": 8080}], "volumes": [{"volume": "data", "path": "/data"}], "health": health}},
           "volumes": {"data": {"size": "64Mi"}},
           "targets": {"k8s": {"provider": "kubernetes", "kubeconfig": kubeconfig, "namespace": app, "storage_class": "standard",
                               "restore_image": "lab/web:1", "rollout_timeout": "180s", "registry": f"{registry}/{app}", **real_node.target_settings}}}
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    common = ["-f", str(manifest), "--state", str(tmp_path / "state.db"), "-t", "k8s"]
    try:
        code, out = run_on_terminal(["portable", "deploy", *common, "--yes"], timeout=300)
        assert code == 0, out
        rows = last_frame(out)
        assert rows["web"][:2] == ["2/2", "ready"], rows
        assert rows["kv"][:2] == ["1/1", "ready"], rows
        screen = _screen_lines(out)
        counting = [line for line in screen if re.match(r"^web +[01]/2 +in progress +Deployment/web: ", line)]
        assert counting, "no frame counted web's replicas while the Deployment rolled out"
        pushed = {k: v for k, v in transfers(out).items() if k.startswith("push ")}
        assert len(pushed) == 1, transfers(out)
        [(name, amount)] = pushed.items()
        assert f"{registry}/{app}/{app}-web:" in name, name
        assert re.fullmatch(BYTES_ROW, amount), amount
        assert float(amount.split()[0]) > 0 and amount.split()[1] in ("MB", "kB"), amount  # the 3 MB layer's bytes were counted
        assert f"{app} on k8s: revision 1 deployed." in ANSI.sub("", out)
        ready = kubectl(kubeconfig, "-n", app, "get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}")
        assert ready == "2"

        kubectl(kubeconfig, "-n", app, "exec", "kv-0", "-c", "kv", "--", "sh", "-c", "head -c 2000000 /dev/urandom > /data/blob")
        code, out = run_on_terminal(["portable", "backup", "-f", str(manifest), "-t", "k8s", "--blob-store", str(tmp_path / "blobs")], timeout=180)
        assert code == 0, out
        read = transfers(out)["volume data <- k8s (backup)"]
        assert re.fullmatch(BYTES_ROW, read), read
        assert read.startswith("2.0 MB / 2.0 MB"), read  # the 2 MB file and its tar headers
    finally:
        subprocess.run(["portable", "destroy", *common, "--yes", "--quiet", "--volumes"], capture_output=True, timeout=180)
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", app, "--ignore-not-found", "--wait=false"],
                       capture_output=True, timeout=60)
