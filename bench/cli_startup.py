"""How fast `portable --help` and `portable validate --help` start, against kubectl and terraform.

Runs each command N times in this one process run, alternating them so load on the
machine hits all alike, and prints the median wall time and the ratio to portable.
Also reports whether a cloud SDK, pydantic, rich or yaml was imported on the way by either
help (none may be: they are what made start-up slow). The budget is issue 19's 70 ms median.
Measure from a plain venv (the pyenv shim and site .pth files of a developer machine add
their own 50 ms before Python starts). portable's bytecode is compiled first, as `pip install`
does for a user: an editable install under PYTHONDONTWRITEBYTECODE=1 (set on the lab machines)
would otherwise compile every module on every run (about 60 ms).

    python bench/cli_startup.py [--runs 15]
"""
from __future__ import annotations

import argparse
import compileall
import importlib.util
import shutil
import statistics
import subprocess
import sys
import time

BUDGET_S = 0.07
HEAVY = ("docker", "kubernetes", "boto3", "botocore", "libcloud", "pyVmomi", "pydantic", "rich", "yaml")


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    portable = shutil.which("portable")
    base = [portable] if portable else [sys.executable, "-m", "portable.cli.main"]
    contenders = {"portable --help": [*base, "--help"], "portable validate --help": [*base, "validate", "--help"]}
    for name, cmd in (("docker-compose --help", ["docker-compose", "--help"]), ("kubectl --help", ["kubectl", "--help"]), ("terraform --help", ["terraform", "--help"])):
        if shutil.which(cmd[0]):
            contenders[name] = cmd
    _compile_bytecode()
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
    imported = sorted(set(_heavy_imports(["--help"])) | set(_heavy_imports(["validate", "--help"])))
    print(f"heavy modules imported by the two helps: {', '.join(imported) or 'none'}")
    worst = max(statistics.median(samples["portable --help"]), statistics.median(samples["portable validate --help"]))
    verdict = "within" if worst < BUDGET_S else "OVER"
    print(f"slower help median {worst * 1000:.1f}ms: {verdict} the {BUDGET_S * 1000:.0f}ms budget")
    return 0 if worst < BUDGET_S and not imported else 1


def _compile_bytecode() -> None:
    """portable's modules compiled to __pycache__ once, as pip does when it installs a wheel."""
    for package in ("portable", "portable.providers"):
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(root, quiet=1)


def _heavy_imports(argv: list[str]) -> list[str]:
    """The modules of HEAVY that running `portable ARGV` imports (run in a child, as the CLI would)."""
    probe = (
        "import sys\nsys.argv = ['portable', *%r]\nfrom portable.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY=' + ','.join(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))" % (argv, HEAVY)
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    marked = [line for line in out.splitlines() if line.startswith("HEAVY=")]
    return [m for m in marked[-1].removeprefix("HEAVY=").split(",") if m]


if __name__ == "__main__":
    sys.exit(main())
