"""How fast `portable --help` starts, against the CLIs a user would otherwise reach for.

Runs each command N times in this one process run, alternating them so load on the
machine hits all alike, and prints the median wall time and the ratio to portable.
Also reports whether any cloud SDK was imported on the way (it must not be).

    python bench/cli_startup.py [--runs 15]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

BUDGET_S = 0.3
SDKS = ("docker", "kubernetes", "boto3", "botocore", "libcloud", "pyVmomi")


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    portable = shutil.which("portable")
    contenders = {"portable --help": [portable or sys.executable, *([] if portable else ["-m", "portable.cli.main"]), "--help"]}
    for name, cmd in (("docker-compose --help", ["docker-compose", "--help"]), ("kubectl --help", ["kubectl", "--help"]), ("terraform --help", ["terraform", "--help"])):
        if shutil.which(cmd[0]):
            contenders[name] = cmd
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for cmd in contenders.values():
        _time(cmd)  # warm the page cache once
    for _ in range(args.runs):
        for name, cmd in contenders.items():
            samples[name].append(_time(cmd))
    ours = statistics.median(samples["portable --help"])
    print(f"{'command':26} {'median':>9} {'min':>9}  ratio to portable")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:26} {med * 1000:8.1f}ms {min(values) * 1000:8.1f}ms  {med / ours:5.2f}x")
    probe = "import sys, portable.cli.main; print(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))" % (SDKS,)
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    print(f"cloud SDKs imported by the CLI at start-up: {imported or 'none'}")
    verdict = "within" if ours < BUDGET_S else "OVER"
    print(f"portable --help median {ours * 1000:.1f}ms: {verdict} the {BUDGET_S * 1000:.0f}ms budget")
    return 0 if ours < BUDGET_S and not imported else 1


if __name__ == "__main__":
    sys.exit(main())
