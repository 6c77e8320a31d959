"""How fast portable reads a 200-service compose file, against `docker compose config`.

Writes a realistic 200-service compose file (ports, environment, health checks, volumes,
depends_on conditions, anchors, an env file), then times, alternating the commands in
this one run so load on the machine hits all alike:

    portable import FILE -o OUT            (budget 1 s)
    portable render -f FILE -t local -o D  (budget 1.5 s)
    docker compose -f FILE config          (the peer: compose's own loader, in Go)

and prints each median wall time (whole process, start-up included) and the ratio of
each portable command to `docker compose config`, side by side.

    python bench/compose_import.py [--runs 7] [--services 200]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGETS = {"portable import": 1.0, "portable render": 1.5}


def stack(services: int) -> str:
    """A compose file with `services` services: groups of web, api, worker, db, cache."""
    out = [
        "name: bigshop",
        "x-defaults: &defaults",
        "  restart: unless-stopped",
        "  stop_grace_period: 5s",
        "  labels:",
        "    com.example.team: shop",
        "services:",
    ]
    for i in range(services):
        kind = ("web", "api", "worker", "db", "cache")[i % 5]
        group = i // 5
        name = f"{kind}-{group}"
        out += [f"  {name}:", "    <<: *defaults", f"    image: ${{IMAGE_{kind.upper()}:-registry.example.com/shop/{kind}:{group}.0}}"]
        out += ["    env_file: [common.env]", "    environment:", f"      SERVICE_NAME: {name}", f"      GROUP: \"{group}\"", "      LOG_LEVEL: ${LOG_LEVEL:-info}"]
        if kind == "web":
            out += ["    ports:", f"      - \"{20000 + group}:8080\"", "    depends_on:", f"      api-{group}:", "        condition: service_healthy"]
        if kind in ("web", "api"):
            out += ["    healthcheck:", "      test: [\"CMD\", \"wget\", \"-q\", \"-O\", \"/dev/null\", \"http://127.0.0.1:8080/health\"]", "      interval: 10s", "      timeout: 3s", "      retries: 5"]
            out += ["    deploy:", "      resources:", "        limits: {cpus: \"0.5\", memory: 256M}"]
        if kind == "api":
            out += ["    expose: [\"8080\"]", "    depends_on:", f"      db-{group}:", "        condition: service_healthy", f"      cache-{group}:", "        condition: service_started"]
        if kind == "worker":
            out += ["    command: [\"worker\", \"--queue\", \"default\"]", "    deploy:", "      replicas: 2"]
        if kind == "db":
            out += [f"    volumes: [\"db-{group}:/var/lib/postgresql/data\"]", "    healthcheck:", "      test: [\"CMD-SHELL\", \"pg_isready -U shop\"]", "      interval: 5s"]
        if kind == "cache":
            out += ["    command: redis-server --save 60 1", f"    volumes: [\"cache-{group}:/data\"]"]
    out.append("volumes:")
    for group in range((services + 4) // 5):
        out += [f"  db-{group}: {{}}", f"  cache-{group}: {{}}"]
    return "\n".join(out) + "\n"


def _time(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--services", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="compose-bench-"))
    (work / "compose.yaml").write_text(stack(args.services))
    (work / "common.env").write_text("TZ=UTC\nOTEL_EXPORTER=otlp\n")
    portable = [sys.executable, "-m", "portable.cli.main"]
    contenders = {
        "portable import": [*portable, "import", "compose.yaml", "-o", "portable.yaml", "--force"],
        "portable render": [*portable, "render", "-f", "compose.yaml", "-t", "local", "-o", "rendered"],
    }
    docker = shutil.which("docker")
    has_compose = docker is not None and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    if has_compose:
        contenders["docker compose config"] = [str(docker), "compose", "-f", "compose.yaml", "config"]
    for cmd in contenders.values():
        _time(cmd, work)  # warm-up: page cache, bytecode
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.runs):
        for name, cmd in contenders.items():
            samples[name].append(_time(cmd, work))
    medians = {name: statistics.median(s) for name, s in samples.items()}
    print(f"{args.services}-service compose file ({(work / 'compose.yaml').stat().st_size // 1024} KiB), {args.runs} runs each, alternated; median wall time of the whole process")
    peer = medians.get("docker compose config")
    failed = False
    for name, median in medians.items():
        line = f"  {name:24s} {median:6.3f} s   (min {min(samples[name]):.3f}, max {max(samples[name]):.3f})"
        if peer and name != "docker compose config":
            line += f"   {median / peer:5.2f}x docker compose config"
        if name in BUDGETS:
            ok = median < BUDGETS[name]
            failed |= not ok
            line += f"   budget {BUDGETS[name]:.1f} s: {'ok' if ok else 'OVER'}"
        print(line)
    if not peer:
        print("  docker compose config   not available here (docker compose v2 comes with the lab: bash tests/lab/lab up compose)")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
