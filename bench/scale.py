"""Benchmark: how load, validate, render (translate) and plan grow with the number of services.

Issue 19 asks for time linear in the number of services, and a 1,000-service render under 1 s on
every target. This generates one app at each size (a dependency tree three deep, env, a port, a
volume on every tenth service, a public port on the first) with a target of every provider, and
times in this process, best of --rounds:

* validate: `api.validate` (read, interpolate, check the whole manifest);
* render T: `api.render` for each target (translate to that target's specs and write them);
* plan: the desired resources of the docker target diffed against an empty target and state
  (`compute_plan` with nothing observed: the planning work, without a target's latency).

Each figure is the median of --rounds runs of its wall time; the CPU time of this process
(`time.process_time`, user + system) is printed beside it, because on a shared, loaded machine
wall time measures the other work as much as this one: the CPU time is what the step costs,
and what its wall time is on an idle core. The load average is printed before and after, and
the bytes each render wrote at the largest size below 5,000 (the VM targets' JSON included).

It then fits time = a + b * services by least squares over the sizes and prints the slope in
milliseconds per 1,000 services, and the growth of the last step: (time at the largest size /
time at the one before) / (largest size / the one before). Linear work with a fixed start-up
cost gives at most 1.0; quadratic work gives about the size ratio (5 from 1,000 to 5,000).
The peer here is the budget itself (1 s of CPU for a 1,000-service render), not another tool: no
other tool renders one manifest to five targets.

    python bench/scale.py [--sizes 10,100,1000,5000] [--rounds 3]
Needs: nothing from the lab (no target is contacted).
"""
from __future__ import annotations

import argparse
import os
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


def measure(rounds: int, fn: Callable[..., object]) -> tuple[float, float]:
    """(median wall time, median CPU time of this process) of `rounds` runs of `fn`."""
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls), statistics.median(cpus)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def written(out: Path) -> int:
    return sum(f.stat().st_size for f in out.rglob("*") if f.is_file())


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
    renders = ("local", "k8s", "aws", "libcloud", "vsphere")
    steps = ["validate", *(f"render {t}" for t in renders), "plan"]
    wall: dict[str, list[float]] = {step: [] for step in steps}
    cpu: dict[str, list[float]] = {step: [] for step in steps}
    sizes_written: dict[str, int] = {}
    print(f"before: {load()} ({os.cpu_count()} cores); median of {args.rounds} rounds", flush=True)

    def record(step: str, figures: tuple[float, float]) -> None:
        wall[step].append(figures[0])
        cpu[step].append(figures[1])

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for n in sizes:
            path = Path(tmp) / str(n) / "portable.yaml"
            path.parent.mkdir()
            path.write_text(manifest(n))
            record("validate", measure(args.rounds, lambda path=path: api.validate(path, env={})))
            for target in renders:
                out = Path(tmp) / str(n) / f"out-{target}"
                record(f"render {target}", measure(args.rounds, lambda path=path, target=target, out=out: api.render(path, target, out, env={})))
                if n < 5000:
                    sizes_written[target] = written(out)
            record("plan", measure(args.rounds, lambda path=path: plan_of(path)))
            print(f"  {n} services done ({load()})", file=sys.stderr, flush=True)
    print(f"after: {load()}")
    print(f"{'step (wall / cpu)':<18}" + "".join(f"{n:>17} svc" for n in sizes) + f"{'cpu ms/1000 svc':>17}{'last growth':>13}")
    ok = True
    for step in steps:
        _, slope = fit(sizes, cpu[step])
        growth = (cpu[step][-1] / cpu[step][-2]) / (sizes[-1] / sizes[-2]) if len(sizes) > 1 else float("nan")
        cells = "".join(f"{w:>10.3f}/{c:.3f}s" for w, c in zip(wall[step], cpu[step], strict=True))
        print(f"{step:<18}{cells}{slope * 1000 * 1000:>16.0f}{growth:>13.2f}")
        ok = ok and (len(sizes) < 2 or growth < 1.5)
    print("bytes written by each render at the largest size below 5,000: "
          + ", ".join(f"{t} {b / 1e6:.1f} MB" for t, b in sizes_written.items()))
    if 1000 in sizes:
        at = sizes.index(1000)
        slowest = max(renders, key=lambda t: cpu[f"render {t}"][at])
        figure = cpu[f"render {slowest}"][at]
        verdict = "within" if figure < RENDER_BUDGET_S else "OVER"
        print(f"slowest 1,000-service render: {slowest}, {figure:.3f} s of CPU ({wall[f'render {slowest}'][at]:.3f} s wall at this load), "
              f"{verdict} the {RENDER_BUDGET_S:.0f} s budget")
        ok = ok and figure < RENDER_BUDGET_S
    print("linear: every step's CPU time grew at most 1.5x faster than the services in its last step" if ok else "NOT linear or over budget (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
