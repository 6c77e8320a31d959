"""Reading a volume out of Kubernetes: `portable backup` against `kubectl cp`, side by side.

On the lab's apiserver (kwok nodes: exec is served by kwok in the claim's directory), with a
volume of --mb megabytes (half random bytes, half repetitive text, in 1 MB files):
  1. `portable backup --target k8s`: a helper pod mounts the claim, `tar | base64` streams
     through the apiserver's exec, and the archive is written gzip'd with a SHA-256 index;
  2. what a user would otherwise do: `kubectl cp` of the same directory from a pod that
     mounts it (created beforehand, not timed) into a local directory: no compression, no
     checksums.
Each round runs both, alternating which goes first; prints the medians, their ratio and
each command's peak memory (the largest resident set of the process tree's biggest child).

    bash tests/lab/lab up k8s && python bench/k8s_backup_vs_kubectl_cp.py [--mb 100] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = "benchbackup"
MANIFEST = f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  kv:
    image: lab/busybox:1
    volumes: [{{volume: data, path: /data}}]
volumes: {{data: {{size: 1Gi}}}}
targets:
  k8s: {{provider: kubernetes, kubeconfig: KUBECONFIG, namespace: {APP}, restore_image: lab/busybox:1}}
"""
READER = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader", "namespace": APP},
    "spec": {"containers": [{"name": "reader", "image": "lab/busybox:1", "command": ["sleep", "infinity"], "workingDir": "/data",
                             "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]}],
             "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-kv-0", "readOnly": True}}]},
}


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds and peak RSS (MiB) of one command, measured by a fresh interpreter that runs only it."""
    probe = ("import resource, subprocess, sys, time, json\n"
             "t = time.monotonic(); p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "if p.returncode: sys.exit(p.stderr[-800:])\n"
             "print(json.dumps([time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024]))")
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{' '.join(argv[:3])} failed: {out.stderr}")
    seconds, mib = json.loads(out.stdout)
    return float(seconds), int(mib)


def kubectl(kubeconfig: str, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=True, **kw)  # type: ignore[call-overload]


def fill(volume: Path, mb: int) -> None:
    rng = random.Random(7)
    line = b"order 12345 shipped to 221B Baker Street, London; total 42.00 EUR\n"
    for i in range(mb):
        data = rng.randbytes(1 << 20) if i % 2 == 0 else (line * ((1 << 20) // len(line) + 1))[: 1 << 20]
        (volume / f"file-{i:04d}.bin").write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kubeconfig = os.environ.get("KUBECONFIG") or json.loads(Path("/tmp/portable-lab/env.json").read_text())["KUBECONFIG"]
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    work = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    manifest = work / "portable.yaml"
    manifest.write_text(MANIFEST.replace("KUBECONFIG", kubeconfig))
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", APP, "--ignore-not-found", "--wait=true"], capture_output=True)
    try:
        deploy = subprocess.run(["portable", "deploy", "-f", str(manifest), "-t", "k8s", "--yes"], capture_output=True, text=True, env=env)
        if deploy.returncode:
            raise SystemExit(deploy.stderr)
        pv = kubectl(kubeconfig, "-n", APP, "get", "pvc", "data-kv-0", "-o", "jsonpath={.spec.volumeName}").stdout
        volume = Path(kubectl(kubeconfig, "get", "pv", pv, "-o", "jsonpath={.spec.hostPath.path}").stdout)
        volume.mkdir(parents=True, exist_ok=True)
        fill(volume, args.mb)
        kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(READER))
        kubectl(kubeconfig, "-n", APP, "wait", "pod/reader", "--for=condition=Ready", "--timeout=60s")
        time.sleep(1)  # the lab binds an Exec to the pod as soon as it is scheduled

        runs: dict[str, list[tuple[float, int]]] = {"portable backup": [], "kubectl cp": []}
        for r in range(args.rounds):
            dest = work / f"cp-{r}"
            commands = {
                "portable backup": ["portable", "backup", "-f", str(manifest), "--target", "k8s"],
                "kubectl cp": ["kubectl", "--kubeconfig", kubeconfig, "cp", f"{APP}/reader:.", str(dest)],
            }
            order = list(commands) if r % 2 == 0 else list(reversed(commands))
            for name in order:
                runs[name].append(timed(commands[name], env))
            copied = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
            if copied != args.mb << 20:
                raise SystemExit(f"kubectl cp copied {copied} bytes, expected {args.mb << 20}")
            shutil.rmtree(dest)
        archives = sorted((work / ".portable" / "archives").rglob("data*.tar.gz"))
        size = archives[-1].stat().st_size if archives else 0
        p = statistics.median(t for t, _ in runs["portable backup"])
        k = statistics.median(t for t, _ in runs["kubectl cp"])
        print(f"volume: {args.mb} MB in {args.mb} files; {args.rounds} rounds, alternating order")
        print(f"portable backup : {p:6.2f} s median, peak RSS {max(m for _, m in runs['portable backup'])} MiB, archive {size / 1e6:.1f} MB (gzip + SHA-256 index)")
        print(f"kubectl cp      : {k:6.2f} s median, peak RSS {max(m for _, m in runs['kubectl cp'])} MiB, {args.mb} MB of plain files")
        print(f"ratio portable/kubectl: {p / k:.2f}")
    finally:
        # the reader pod is not portable's: it holds the claim, which destroy waits to see gone
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", APP, "delete", "pod", "reader", "--ignore-not-found", "--grace-period=0", "--force"],
                       capture_output=True)
        subprocess.run(["portable", "destroy", "-f", str(manifest), "-t", "k8s", "--yes", "--volumes"], capture_output=True, env=env)
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", APP, "--ignore-not-found", "--wait=false"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
