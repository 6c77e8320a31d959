"""Benchmark: portable deploy vs `kubectl apply --server-side` on the same apiserver, same run.

Generates a 50-service app (Secret + ConfigMap + Deployment + Service per service: 200
objects), deploys it with portable into one namespace, and applies portable's
own rendered YAML with kubectl into another. portable waits for every rollout; plain
`kubectl apply` does not, so the kubectl time is also given with `kubectl wait` for the
Deployments to be Available. Prints the ratios (goal: portable not slower).

Usage: python bench/k8s_vs_kubectl.py [--kubeconfig PATH] [--services 50] [--parallelism 64]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from portable import api

LAB_ENV = Path(os.environ.get("LAB_RUN", "/tmp/portable-lab")) / "env.json"


def manifest_text(services: int, namespace: str, kubeconfig: str, image: str) -> str:
    lines = ["apiVersion: portable/v1", "kind: Application", "metadata:", "  name: bench", "services:"]
    for i in range(services):
        lines += [
            f"  svc{i:02d}:",
            f"    image: {image}",
            "    replicas: 1",
            "    env:",
            f"      INDEX: \"{i}\"",
            "    ports:",
            "      - port: 8080",
            "        expose: internal",
            "    secrets:",
            f"      - token{i:02d}",
            "    files:",
            "      - path: /etc/bench/config.json",
            f"        content: '{{\"index\": {i}}}'",
        ]
    lines += ["secrets:"] + [f"  token{i:02d}: {{from: env:BENCH_TOKEN}}" for i in range(services)]
    lines += ["targets:", "  k8s:", "    provider: kubernetes", f"    kubeconfig: {kubeconfig}", f"    namespace: {namespace}"]
    return "\n".join(lines) + "\n"


def kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=True, timeout=900)


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", default=os.environ.get("PORTABLE_LAB_KUBECONFIG"))
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--parallelism", type=int, default=64)
    parser.add_argument("--image", default="lab/web:1")
    parser.add_argument("--keep", action="store_true", help="leave both namespaces in place")
    args = parser.parse_args()
    kubeconfig = args.kubeconfig
    if not kubeconfig and LAB_ENV.exists():
        kubeconfig = json.loads(LAB_ENV.read_text()).get("KUBECONFIG")
    if not kubeconfig:
        print("no kubeconfig: start the lab (bash tests/lab/lab up k8s) or pass --kubeconfig", file=sys.stderr)
        return 2
    run = uuid.uuid4().hex[:6]
    ns_portable, ns_kubectl = f"bench-portable-{run}", f"bench-kubectl-{run}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "p").mkdir()
        (work / "k").mkdir()
        portable_manifest = work / "p" / "portable.yaml"
        portable_manifest.write_text(manifest_text(args.services, ns_portable, kubeconfig, args.image))
        kubectl_manifest = work / "k" / "portable.yaml"
        kubectl_manifest.write_text(manifest_text(args.services, ns_kubectl, kubeconfig, args.image))
        [rendered] = api.render(kubectl_manifest, "k8s", work / "rendered")
        objects = rendered.read_text().count("\n---\n")  # documents after the Namespace
        os.environ.setdefault("BENCH_TOKEN", uuid.uuid4().hex)
        try:
            applied: dict[str, float] = {}
            start = time.perf_counter()

            def progress(line: str) -> None:
                # the first rollout line of a workload comes right after its apply call returned
                head = line.split(":", 1)[0]
                if head.startswith(("Deployment/", "StatefulSet/")) and "updated" in line:
                    applied.setdefault(head, time.perf_counter() - start)

            t_portable = timed(lambda: api.deploy(portable_manifest, "k8s", state=work / "state.db", parallelism=args.parallelism, timeout=600, progress=progress))
            t_portable_applied = max(applied.values())
            t_portable_noop = timed(lambda: api.deploy(portable_manifest, "k8s", state=work / "state.db", parallelism=args.parallelism))
            t_kubectl = timed(lambda: kubectl(kubeconfig, "apply", "--server-side", "--field-manager=portable", "-f", str(rendered)))
            t_wait = timed(lambda: kubectl(kubeconfig, "-n", ns_kubectl, "wait", "--for=condition=Available", "deployment", "--all", "--timeout=600s"))
            t_kubectl_noop = timed(lambda: kubectl(kubeconfig, "apply", "--server-side", "--field-manager=portable", "-f", str(rendered)))
        finally:
            if not args.keep:
                for ns in (ns_portable, ns_kubectl):
                    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", ns, "--wait=false"], capture_output=True)
    print(f"app: {args.services} services, {objects} objects; portable parallelism {args.parallelism}")
    print(f"portable deploy (apply + wait for every rollout): {t_portable:7.2f}s")
    print(f"  of which until every object was applied:        {t_portable_applied:7.2f}s")
    print(f"kubectl apply --server-side -f (no waiting):      {t_kubectl:7.2f}s")
    print(f"kubectl apply + kubectl wait Available:           {t_kubectl + t_wait:7.2f}s")
    print(f"redeploy with no change: portable {t_portable_noop:.2f}s, kubectl apply {t_kubectl_noop:.2f}s")
    print(f"ratio portable / kubectl apply:          {t_portable / t_kubectl:5.2f}")
    print(f"ratio portable until applied / kubectl apply: {t_portable_applied / t_kubectl:5.2f}")
    print(f"ratio portable / kubectl apply + wait:   {t_portable / (t_kubectl + t_wait):5.2f}")
    print(f"ratio no-change redeploy portable / kubectl: {t_portable_noop / t_kubectl_noop:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
