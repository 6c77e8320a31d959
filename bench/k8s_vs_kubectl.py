"""Benchmark: portable deploy vs `kubectl apply --server-side` on the same apiserver, same run.

Generates a 50-service app (Secret + ConfigMap + Deployment + Service per service: 200
objects), deploys it with portable into one namespace, and applies portable's
own rendered YAML with kubectl into another. portable waits for every rollout; plain
`kubectl apply` does not, so the kubectl time is also given with `kubectl wait` for the
Deployments to be Available. Prints the ratios (goal: portable not slower).

Then the redeploy with nothing changed, as a user runs it: `portable deploy --yes` (the CLI, in a
new process: start-up included) alternating with the same `kubectl apply --server-side`, for
--noop-rounds rounds (default 3), each followed by `portable plan`; medians, with the 1-minute
load average read beside the samples (issue 19: the no-op under 0.5 s).

Usage: python bench/k8s_vs_kubectl.py [--kubeconfig PATH] [--services 50] [--parallelism 64] [--noop-rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
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


def portable_command() -> str:
    """The console script beside this interpreter (not a version manager's shim found first on PATH)."""
    beside = Path(sys.executable).parent / "portable"
    return str(beside) if beside.is_file() else "portable"


def cli(*args: str) -> None:
    result = subprocess.run([portable_command(), *args], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        sys.exit(f"portable {' '.join(args[:3])} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


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
    parser.add_argument("--noop-rounds", type=int, default=3, help="rounds of the no-change redeploy, alternating portable and kubectl")
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
            t_kubectl = timed(lambda: kubectl(kubeconfig, "apply", "--server-side", "--field-manager=portable", "-f", str(rendered)))
            t_wait = timed(lambda: kubectl(kubeconfig, "-n", ns_kubectl, "wait", "--for=condition=Available", "deployment", "--all", "--timeout=600s"))
            common = ["-f", str(portable_manifest), "--target", "k8s", "--state", str(work / "state.db")]
            noop: dict[str, list[float]] = {"portable": [], "plan": [], "kubectl": []}
            loads: list[float] = []
            for _ in range(args.noop_rounds):  # alternating, each a new process as a user runs it
                loads.append(os.getloadavg()[0])
                noop["portable"].append(timed(lambda: cli("deploy", *common, "--yes", "--quiet")))
                noop["plan"].append(timed(lambda: cli("plan", *common)))
                noop["kubectl"].append(timed(lambda: kubectl(kubeconfig, "apply", "--server-side", "--field-manager=portable", "-f", str(rendered))))
            t_portable_noop, t_plan_noop, t_kubectl_noop = (statistics.median(noop[k]) for k in ("portable", "plan", "kubectl"))
        finally:
            if not args.keep:
                for ns in (ns_portable, ns_kubectl):
                    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", ns, "--wait=false"], capture_output=True)
    print(f"app: {args.services} services, {objects} objects; portable parallelism {args.parallelism}")
    print(f"portable deploy (apply + wait for every rollout): {t_portable:7.2f}s")
    print(f"  of which until every object was applied:        {t_portable_applied:7.2f}s")
    print(f"kubectl apply --server-side -f (no waiting):      {t_kubectl:7.2f}s")
    print(f"kubectl apply + kubectl wait Available:           {t_kubectl + t_wait:7.2f}s")
    print(f"redeploy with no change, median of {args.noop_rounds} alternating rounds (load {statistics.median(loads):.1f}): portable deploy {t_portable_noop:.2f}s, "
          f"portable plan {t_plan_noop:.2f}s, kubectl apply {t_kubectl_noop:.2f}s (issue 19: portable <= 0.5 s: {'met' if max(t_portable_noop, t_plan_noop) <= 0.5 else 'MISSED'})")
    print("  samples (s): " + "; ".join(f"{k} " + " ".join(f"{t:.2f}" for t in v) for k, v in noop.items()))
    print(f"ratio portable / kubectl apply:          {t_portable / t_kubectl:5.2f}")
    print(f"ratio portable until applied / kubectl apply: {t_portable_applied / t_kubectl:5.2f}")
    print(f"ratio portable / kubectl apply + wait:   {t_portable / (t_kubectl + t_wait):5.2f}")
    print(f"ratio no-change redeploy portable / kubectl: {t_portable_noop / t_kubectl_noop:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
