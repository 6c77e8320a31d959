"""Ctrl-C during `portable backup` and `portable restore` (issue 17's last defect, for the data
commands), on the lab's docker engine.

The app has two volumes: `small` (a few files) and `big` (BIG_MB of random bytes, written
through the container), so each command has a long phase (packing or unpacking `big`) after
`small` is done. The signal is sent on the progress line that shows that phase has begun
(never after a sleep), and what a user sees and what is left is asserted: exit 130 within
BOUND_S, one "error: interrupted; ..." line naming how far it got (no backup recorded; which
volumes may be partly replaced), the writers running again, and a rerun that converges: the
backup then restores with its checksums verified, and the files in the container equal the
backup's, byte for byte (sha256 of each file, read inside the container).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "e2e"))

from docker_support import ensure_images, free_port  # noqa: E402
from test_interrupts import CLI, App, _docker, _force_remove, _get, interrupt_on  # noqa: E402

pytestmark = [pytest.mark.timeout(300)]

BIG_MB = 150  # random, so gzip cannot shrink it: packing and unpacking it lasts seconds

MANIFEST = """apiVersion: portable/v1
kind: Application
metadata: {name: NAME}
services:
  kv:
    image: lab/web:1
    ports:
      - {port: 8080, expose: public, published: "PORT"}
    volumes:
      - {volume: small, path: /data}
      - {volume: big, path: /big}
    stop_grace_period: 1s  # httpd as PID 1 ignores SIGTERM: each quiesce would last the default 10 s
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 1s, timeout: 2s, retries: 3}
volumes:
  small: {size: 1Gi}
  big: {size: 1Gi}
"""


def _container(name: str) -> str:
    ids = _docker(None, "ps", "-q", "--filter", f"label=io.portable.app={name}", "--filter", "label=io.portable.service=kv", "--filter", "label=io.portable.kind=container").split()
    assert len(ids) == 1, f"want one running kv container of {name}, got {ids}"
    return ids[0]


def _sh(name: str, script: str) -> str:
    return _docker(None, "exec", _container(name), "sh", "-c", script)


def _checksums(name: str) -> dict[str, str]:
    """sha256 of every file under the two mounts, read inside the running container."""
    out = _sh(name, "find /data /big -type f | sort | xargs sha256sum")
    return {path: digest for digest, path in (line.split() for line in out.splitlines())}


def _data(app: App, *args: str) -> str:
    """backup and restore take no --state (they record nothing in it)."""
    done = subprocess.run([*CLI, *args, "-f", str(app.manifest)], env=app.env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"portable {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def _helpers(name: str) -> list[str]:
    return _docker(None, "ps", "-a", "--filter", f"label=io.portable.helper={name}", "--format", "{{.Names}}").split()


@pytest.mark.lab("docker", "images")
def test_ctrl_c_docker_backup_and_restore_mid_volume(lab: Any, tmp_path: Path) -> None:
    images = ensure_images()
    name = f"intr-b{uuid.uuid4().hex[:6]}"
    port = free_port()
    app = App(tmp_path / "portable.yaml", tmp_path / "state.db", dict(os.environ, PORTABLE_PROXY_IMAGE=images.proxy))
    app.manifest.write_text(MANIFEST.replace("NAME", name).replace("PORT", str(port)))
    health = f"http://127.0.0.1:{port}/cgi-bin/health"
    archives = tmp_path / ".portable" / "archives" / name
    try:
        app.ok("deploy", "--yes")
        _sh(name, f"echo one > /data/a; mkdir -p /data/sub; echo two > /data/sub/b; head -c {BIG_MB * 1000 * 1000} /dev/urandom > /big/blob; echo tail > /big/note")
        original = _checksums(name)
        assert len(original) == 4, original

        # backup --quiesce, cut while it packs `big` (after `small` is archived)
        cut = interrupt_on([*CLI, "backup", "--quiesce", "-f", str(app.manifest)], app.env, "exporting volume big", "docker backup")
        line = cut.line
        assert f"of {name} on local stopped after 1 of 2 volumes; no backup was recorded" in line, line
        assert "its writers are started again" in line and "run backup again" in line, line
        assert not list(archives.glob("*/backup.json")), "an interrupted backup left an index (a half backup one could restore)"
        assert _get(health) == "ok"  # the stopped writer runs again
        assert _helpers(name) == [], "the interrupted backup left its helper container"

        done = _data(app, "backup", "--quiesce")
        backup_id = next(line.split()[1] for line in done.splitlines() if line.startswith("backup "))
        assert (archives / backup_id / "backup.json").is_file(), done
        assert _get(health) == "ok"

        # what the volumes hold changes; the restore must put the backup's bytes back
        _sh(name, "rm -rf /data/* /big/*; echo changed > /data/a; echo extra > /big/extra")
        assert _checksums(name) != original

        restore = [*CLI, "restore", "--from", backup_id, "--yes", "-f", str(app.manifest)]
        cut = interrupt_on(restore, app.env, f"restoring volume {name}_big", "docker restore")
        line = cut.line
        assert f"restore of {backup_id} on local stopped: replaced small; big may be partly replaced" in line, line
        assert "its writers are started again" in line and "run the same restore again to finish" in line, line
        assert _get(health) == "ok"
        assert _helpers(name) == [], "the interrupted restore left its helper container"
        for volume in ("small", "big"):  # nor any other container on the app's volumes (an emptying run, say)
            users = _docker(None, "ps", "-a", "--filter", f"volume={name}_{volume}", "--format", "{{.Names}}").split()
            assert users == [f"{name}-kv-1"], users

        again = _data(app, "restore", "--from", backup_id, "--yes")
        assert "restored volumes: small, big" in again, again
        assert _get(health) == "ok"
        assert _checksums(name) == original  # the backup's bytes, `extra` gone
    finally:
        subprocess.run([*CLI, "destroy", "--yes", "--volumes", "-f", str(app.manifest), "--state", str(app.state)], env=app.env, capture_output=True, timeout=120)
        _force_remove(name, None)
        for helper in _helpers(name):
            subprocess.run(["docker", "rm", "-f", helper], capture_output=True)
        subprocess.run(["rm", "-rf", str(tmp_path / ".portable")], capture_output=True)


# ---------------------------------------------------------------------------- kubernetes
KUBE_MB = 10  # the signal comes while a helper pod starts (plain mode prints no line mid-stream): the size hardly matters
KUBE_MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: NAME}
services:
  kv:
    image: lab/web:1
    ports:
      - {port: 8080}
    volumes:
      - {volume: small, path: /data}
      - {volume: big, path: /big}
    stop_grace_period: 1s
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 1s}
volumes:
  small: {size: 64Mi}
  big: {size: 256Mi}
targets:
  k8s:
    provider: kubernetes
    kubeconfig: ${KUBECONFIG}
    namespace: ${NAMESPACE}
    storage_class: standard
    restore_image: lab/web:1
    rollout_timeout: 180s
    node_selector: {portable.dev/lab-node: real}
    tolerations:
      - {key: portable.dev/lab-node, operator: Equal, value: real, effect: NoSchedule}
"""


def _kubectl(kubeconfig: str, *args: str) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _kube_pods(kubeconfig: str, ns: str) -> list[dict[str, Any]]:
    import json

    items = json.loads(_kubectl(kubeconfig, "-n", ns, "get", "pods", "-o", "json"))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _kube_ready(kubeconfig: str, ns: str, timeout: float = 120) -> None:
    """kv-0 runs and is ready, and no helper pod is left beside it."""
    deadline = time.monotonic() + timeout
    while True:
        pods = _kube_pods(kubeconfig, ns)
        names = [p["metadata"]["name"] for p in pods]
        ready = [p for p in pods if p["metadata"]["name"] == "kv-0" and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]
        if ready and names == ["kv-0"]:
            return
        assert time.monotonic() < deadline, f"want kv-0 ready and alone within {timeout}s: {names}"
        time.sleep(0.5)


def _kube_checksums(kubeconfig: str, ns: str) -> dict[str, str]:
    out = _kubectl(kubeconfig, "-n", ns, "exec", "kv-0", "-c", "kv", "--", "sh", "-c", "find /data /big -type f ! -name '.portable*' | sort | xargs sha256sum")
    return {path: digest for digest, path in (line.split() for line in out.splitlines())}


@pytest.mark.lab("k8s", "k8s_node")
def test_ctrl_c_kubernetes_backup_and_restore_mid_volume(lab: Any, tmp_path: Path, kubeconfig: str, real_node: Any) -> None:
    name = f"intr-kb{uuid.uuid4().hex[:6]}"
    ns = f"intr-kb-{uuid.uuid4().hex[:6]}"
    app = App(tmp_path / "portable.yaml", tmp_path / "state.db", dict(os.environ, KUBECONFIG=kubeconfig, NAMESPACE=ns), "k8s")
    app.manifest.write_text(KUBE_MANIFEST.replace("{name: NAME}", f"{{name: {name}}}"))
    archives = tmp_path / ".portable" / "archives" / name
    try:
        app.ok("deploy", "--yes")
        _kube_ready(kubeconfig, ns)
        _kubectl(kubeconfig, "-n", ns, "exec", "kv-0", "-c", "kv", "--", "sh", "-c",
                 f"echo one > /data/a; head -c {KUBE_MB * 1000 * 1000} /dev/urandom > /big/blob; echo tail > /big/note")
        original = _kube_checksums(kubeconfig, ns)
        assert len(original) == 3, original

        cut = interrupt_on([*CLI, "backup", "-f", str(app.manifest), "-t", "k8s"], app.env, "exporting volume big", "kubernetes backup")
        assert f"of {name} on k8s stopped after 1 of 2 volumes; no backup was recorded; run backup again" in cut.line, cut.line
        assert not list(archives.glob("*/backup.json"))
        _kube_ready(kubeconfig, ns)  # the export's helper pod is gone

        done = _data(app, "backup", "-t", "k8s")
        backup_id = next(line.split()[1] for line in done.splitlines() if line.startswith("backup "))
        _kubectl(kubeconfig, "-n", ns, "exec", "kv-0", "-c", "kv", "--", "sh", "-c", "rm -rf /data/* /big/*; echo changed > /data/a")
        assert _kube_checksums(kubeconfig, ns) != original

        restore = [*CLI, "restore", "--from", backup_id, "--yes", "-f", str(app.manifest), "-t", "k8s"]
        cut = interrupt_on(restore, app.env, "volume big: writers scaled to zero", "kubernetes restore")
        assert f"restore of {backup_id} on k8s stopped: replaced small; big may be partly replaced" in cut.line, cut.line
        _kube_ready(kubeconfig, ns)  # the writer was scaled back on the way out, the helper pod removed

        again = _data(app, "restore", "--from", backup_id, "--yes", "-t", "k8s")
        assert "restored volumes: small, big" in again, again
        _kube_ready(kubeconfig, ns)
        assert _kube_checksums(kubeconfig, ns) == original
    finally:
        try:
            app.run("destroy", "--yes", "--volumes", timeout=120)
        except subprocess.TimeoutExpired:  # a loaded node is slow to release the volumes: the namespace's deletion below removes the rest
            pass
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", ns, "--ignore-not-found", "--wait=false"], capture_output=True, timeout=60)
        subprocess.run(["rm", "-rf", str(tmp_path / ".portable")], capture_output=True)
