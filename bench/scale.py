"""Benchmark: how load, validate, render (translate) and plan grow with the number of services.

Issue 19 asks for time linear in the number of services, and a 1,000-service render under 1 s on
every target. This generates one app at each size (a dependency tree three deep, env, a port, a
volume on every tenth service, a public port on the first) with a target of every provider, and
times in this process, best of --rounds:

* validate: `api.validate` (read, interpolate, check the whole manifest);
* render T: `api.render` for each target (translate to that target's specs and write them);
* plan: the desired resources of the docker target diffed against an empty target and state
  (`compute_plan` with nothing observed: the planning work, without a target's latency).

It then fits time = a + b * services by least squares over the sizes and prints the slope in
milliseconds per 1,000 services, and the growth of the last step: (time at the largest size /
time at the one before) / (largest size / the one before). Linear work with a fixed start-up
cost gives at most 1.0; quadratic work gives about the size ratio (5 from 1,000 to 5,000).
The peer here is the budget itself (1 s for a 1,000-service render), not another tool: no other
tool renders one manifest to five targets.

    python bench/scale.py [--sizes 10,100,1000,5000] [--rounds 3]
Needs: nothing from the lab (no target is contacted).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from portable import api  # noqa: E402
from portable.plan.diff import compute_plan  # noqa: E402

RENDER_BUDGET_S = 1.0
TARGETS = """targets:
  local:
    provider: docker
  k8s:
    provider: kubernetes
    namespace: scale
  aws:
    provider: aws
    region: eu-west-1
    ami: ami-0123456789abcdef0
  libcloud:
    provider: libcloud
    driver: ec2
    region: eu-west-1
    image: ami-0123456789abcdef0
  vsphere:
    provider: vsphere
    host: vcenter.example.com
    template: debian-12
"""


def manifest(n: int) -> str:
    """An app of `n` services shaped like real ones: env, a port, some volumes, a dependency tree."""
    lines = ["apiVersion: portable/v1", "kind: Application", "metadata:", f"  name: scale{n}", "services:"]
    for i in range(n):
        lines += [f"  s{i:05d}:", "    image: registry.example.com/shop/web:1.4.2", "    env:", f"      INDEX: \"{i}\"", "      LOG_LEVEL: info",
                  "    ports:", "      - port: 8080", "        protocol: http"]
        if i == 0:
            lines += ["        expose: public", "        published: 8080"]
        if i % 10 == 5:
            lines += ["    volumes:", f"      - data{i}:/data"]
        if i > 0:
            lines += [f"    depends_on: [s{(i - 1) // 3:05d}]"]
    volumes = [f"  data{i}: {{size: 1Gi}}" for i in range(n) if i % 10 == 5]
    return "\n".join(lines + (["volumes:", *volumes] if volumes else [])) + "\n" + TARGETS


def best(rounds: int, fn: Callable[..., object]) -> float:
    """The fastest of `rounds` runs: the least disturbed by the other work on a shared machine."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def plan_of(path: Path) -> None:
    """The planning work of a first deploy: desired resources against an empty target and state."""
    session = api._session(path, {})
    app = session.app("local")
    desired = session.provider("local").translate(app)
    compute_plan(app.name, "local", desired, observed=[])


def fit(sizes: list[int], times: list[float]) -> tuple[float, float]:
    """Least-squares a + b * n."""
    mean_n, mean_t = statistics.fmean(sizes), statistics.fmean(times)
    b = sum((n - mean_n) * (t - mean_t) for n, t in zip(sizes, times, strict=True)) / sum((n - mean_n) ** 2 for n in sizes)
    return mean_t - b * mean_n, b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,5000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    steps = ["validate", *(f"render {t}" for t in ("local", "k8s", "aws", "libcloud", "vsphere")), "plan"]
    results: dict[str, list[float]] = {step: [] for step in steps}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for n in sizes:
            path = Path(tmp) / str(n) / "portable.yaml"
            path.parent.mkdir()
            path.write_text(manifest(n))
            results["validate"].append(best(args.rounds, lambda path=path: api.validate(path, env={})))
            for target in ("local", "k8s", "aws", "libcloud", "vsphere"):
                out = Path(tmp) / str(n) / f"out-{target}"
                results[f"render {target}"].append(best(args.rounds, lambda path=path, target=target, out=out: api.render(path, target, out, env={})))
            results["plan"].append(best(args.rounds, lambda path=path: plan_of(path)))
    print(f"{'step':<18}" + "".join(f"{n:>9} svc" for n in sizes) + f"{'ms/1000 svc':>13}{'last growth':>13}")
    ok = True
    for step, times in results.items():
        _, slope = fit(sizes, times)
        growth = (times[-1] / times[-2]) / (sizes[-1] / sizes[-2])
        print(f"{step:<18}" + "".join(f"{t:>12.3f}s" for t in times) + f"{slope * 1000 * 1000:>12.0f}{growth:>13.2f}")
        ok = ok and growth < 1.5
    if 1000 in sizes:
        slowest = max(results[f"render {t}"][sizes.index(1000)] for t in ("local", "k8s", "aws", "libcloud", "vsphere"))
        verdict = "within" if slowest < RENDER_BUDGET_S else "OVER"
        print(f"slowest 1,000-service render: {slowest:.3f}s, {verdict} the {RENDER_BUDGET_S:.0f} s budget")
        ok = ok and slowest < RENDER_BUDGET_S
    print("linear: every step grew at most 1.5x faster than the services in its last step" if ok else "NOT linear or over budget (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
