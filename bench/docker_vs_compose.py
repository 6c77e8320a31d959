"""Benchmark: `portable` vs Debian's `docker-compose` on the same Docker engine, same run.

Two apps: examples/shop (4 services, web x2 behind the front proxy, a volume, a secret) and a
generated 20-service app (a dependency tree three levels deep, health checks everywhere, one
public port). For each app and tool it times: first deploy, redeploy with nothing changed,
redeploy with one env var changed (the web
services of shop, every service of the generated app), and teardown. portable waits for every
container to be healthy; `docker-compose up -d` returns once containers are started, so the
compose figure also includes polling `docker inspect` until every container is healthy,
which is what a user waits for. Prints seconds and the ratio portable/compose, and how many
requests to the public port failed while the env change was rolled out by each tool.

Usage: python bench/docker_vs_compose.py [--services 20] [--skip-shop] [--parallelism 16]
Needs: a Docker engine, lab images (bash tests/lab/lab up images), /usr/bin/docker-compose.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
WEB = "lab/web:1"
WORKER_DOCKERFILE = 'FROM lab/busybox:1\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
HEALTH = "wget -q -O /dev/null http://127.0.0.1:8080/cgi-bin/health"
TOKEN = "bench-token"


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=1800)
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv[:3])} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def timed(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    run(argv, env, cwd)
    return time.perf_counter() - start


def wait_healthy(project_label: str, expected: int, timeout: float = 600) -> None:
    """Polls until `expected` containers of the compose project are running and healthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label={project_label}"], capture_output=True, text=True).stdout.split()
        if len(ids) >= expected:
            data = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True).stdout)
            if all(d["State"]["Running"] and (d["State"].get("Health") or {"Status": "healthy"})["Status"] == "healthy" for d in data):
                return
        time.sleep(0.25)
    sys.exit(f"compose project {project_label} did not become healthy")


class Poller(threading.Thread):
    """Requests a URL back to back while an update runs; counts what a user would see fail."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.ok, self.failed = url, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=3) as r:
                    r.read()
                self.ok += 1
            except Exception:  # refused, reset, 502: all are a failed request for the user
                self.failed += 1
            time.sleep(0.02)

    def stop(self) -> str:
        self.done.set()
        self.join(10)
        return f"{self.failed} of {self.ok + self.failed}"


def polled(url: str, action: Any) -> tuple[float, str]:
    poller = Poller(url)
    poller.start()
    seconds = action()
    return seconds, poller.stop()


# ----------------------------------------------------------------------------- the apps
def shop_env(port: int, proxy: str) -> dict[str, str]:
    return {
        "SHOP_WEB_IMAGE": WEB, "SHOP_API_IMAGE": WEB, "SHOP_KV_IMAGE": WEB, "SHOP_WORKER_IMAGE": "portable-bench/worker:1",
        "SHOP_WEB_PORT": "8080", "SHOP_API_PORT": "8080", "SHOP_KV_PORT": "8080",
        "SHOP_WEB_HEALTH_PATH": "/cgi-bin/health", "SHOP_API_HEALTH_PATH": "/cgi-bin/health", "SHOP_KV_HEALTH": HEALTH,
        "SHOP_PUBLISHED_PORT": str(port), "SHOP_API_TOKEN": TOKEN, "PORTABLE_PROXY_IMAGE": proxy,
    }


def _compose_health() -> dict[str, Any]:
    return {"test": ["CMD-SHELL", HEALTH], "interval": "2s", "timeout": "2s", "retries": 5}


def shop_compose(port: int, workdir: Path, greeting: str) -> dict[str, Any]:
    """examples/shop as a compose user writes it (web x2 as two services: one owns the port)."""
    (workdir / "token").write_text(TOKEN)
    (workdir / "settings.json").write_text('{"currency": "EUR", "page_size": 20}\n')
    healthy = {"condition": "service_healthy"}
    web = {"image": WEB, "environment": {"API_URL": "http://api:8080", "GREETING": greeting}, "healthcheck": _compose_health(),
           "depends_on": {"api": healthy}, "stop_grace_period": "5s", "restart": "always"}
    return {
        "version": "2.4",
        "services": {
            "kv": {"image": WEB, "volumes": ["data:/data"], "healthcheck": _compose_health(), "mem_limit": "256m",
                   "stop_grace_period": "5s", "restart": "always"},
            "api": {"image": WEB, "environment": {"KV_URL": "http://kv:8080", "LOG_LEVEL": "info"},
                    "volumes": ["./token:/run/secrets/api-token:ro", "./settings.json:/etc/shop/settings.json:ro"],
                    "healthcheck": _compose_health(), "depends_on": {"kv": healthy}, "stop_grace_period": "5s", "restart": "always"},
            "worker": {"image": "portable-bench/worker:1", "command": ["sh", "-c", "while true; do echo working; sleep 5; done"],
                       "volumes": ["./token:/run/secrets/token:ro"], "environment": {"SHOP_NAME": "shop"},
                       "depends_on": {"api": healthy, "kv": healthy}, "stop_grace_period": "2s", "restart": "on-failure"},
            "web1": {**web, "ports": [f"{port}:8080"]},
            "web2": dict(web),
        },
        "volumes": {"data": {}},
    }


def generated_manifest(n: int, port: int, greeting: str) -> str:
    lines = ["apiVersion: portable/v1", "kind: Application", "metadata:", "  name: bench20", "services:"]
    for i in range(n):
        lines += [f"  s{i:02d}:", f"    image: {WEB}", "    env:", f"      GREETING: \"{greeting}\"", f"      INDEX: \"{i}\"",
                  "    ports:", "      - port: 8080", "        protocol: http",
                  "        expose: public" if i == 0 else "        expose: internal"]
        if i == 0:
            lines.append(f"        published: {port}")
        lines += ["    health:", "      http: {path: /cgi-bin/health, port: 8080}", "      interval: 2s", "      timeout: 2s",
                  "      retries: 5", "    stop_grace_period: 1s"]
        if i > 0:
            lines.append(f"    depends_on: [s{(i - 1) // 3:02d}]")
    return "\n".join(lines) + "\n"


def generated_compose(n: int, port: int, greeting: str) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for i in range(n):
        svc: dict[str, Any] = {"image": WEB, "environment": {"GREETING": greeting, "INDEX": str(i)}, "healthcheck": _compose_health(),
                               "stop_grace_period": "1s", "restart": "always"}
        if i == 0:
            svc["ports"] = [f"{port}:8080"]
        else:
            svc["depends_on"] = {f"s{(i - 1) // 3:02d}": {"condition": "service_healthy"}}
        services[f"s{i:02d}"] = svc
    return {"version": "2.4", "services": services}


# ----------------------------------------------------------------------------- the runs
def bench_portable(manifest: Path, env_for: Any, state: Path, parallelism: int, url: str) -> tuple[dict[str, float], str]:
    common = ["-f", str(manifest), "--target", "local", "--state", str(state), "--yes", "--quiet"]
    deploy = ["portable", "deploy", *common, "--parallelism", str(parallelism)]
    times = {"deploy": timed(deploy, env_for("one")), "no-op redeploy": timed(deploy, env_for("one"))}
    times["env change"], failed = polled(url, lambda: timed(deploy, env_for("two")))
    times["teardown"] = timed(["portable", "destroy", *common, "--volumes"], env_for("two"))
    return times, failed


def bench_compose(workdir: Path, project: str, doc_for: Any, containers: int, url: str) -> tuple[dict[str, float], str]:
    file = workdir / "docker-compose.yml"
    compose = ["docker-compose", "-p", project, "-f", str(file)]
    label = f"com.docker.compose.project={project}"

    def up(greeting: str, wait: bool) -> float:
        file.write_text(yaml.safe_dump(doc_for(greeting), sort_keys=False))
        start = time.perf_counter()
        run([*compose, "up", "-d"], cwd=workdir)
        if wait:
            wait_healthy(label, containers)
        return time.perf_counter() - start

    times = {"deploy": up("one", True), "no-op redeploy": up("one", True)}
    times["env change"], failed = polled(url, lambda: up("two", True))
    times["teardown"] = timed([*compose, "down", "--volumes", "--remove-orphans"], cwd=workdir)
    return times, failed


def report(title: str, ours: dict[str, float], theirs: dict[str, float], failed: tuple[str, str]) -> None:
    print(f"\n{title}")
    print(f"  {'operation':<16}{'portable':>10}{'compose':>10}{'ratio':>8}")
    for op in ours:
        print(f"  {op:<16}{ours[op]:>9.1f}s{theirs[op]:>9.1f}s{ours[op] / theirs[op]:>8.2f}")
    total_ours, total_theirs = sum(ours.values()), sum(theirs.values())
    print(f"  {'total':<16}{total_ours:>9.1f}s{total_theirs:>9.1f}s{total_ours / total_theirs:>8.2f}")
    print(f"  failed requests to the public port during the env change: portable {failed[0]}, compose {failed[1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--skip-shop", action="store_true")
    parser.add_argument("--parallelism", type=int, default=16,
                        help="portable's --parallelism (docker-compose starts independent containers all at once)")
    parser.add_argument("--proxy-image", default=os.environ.get("PORTABLE_PROXY_IMAGE", "lab/kamal-proxy:1"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-docker-") as tmp:
        work = Path(tmp)
        (work / "worker").mkdir()
        (work / "worker" / "Dockerfile").write_text(WORKER_DOCKERFILE)
        run(["docker", "build", "-q", "-t", "portable-bench/worker:1", str(work / "worker")])
        engine = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True).stdout.strip()
        compose_version = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True).stdout.strip()
        print(f"Docker Engine {engine}, docker-compose {compose_version}, {os.cpu_count()} cpus (shared), "
              f"portable --parallelism {args.parallelism}")
        if not args.skip_shop:
            shop = REPO / "examples" / "shop" / "portable.yaml"
            ours, ours_failed = bench_portable(shop, lambda g: {**shop_env(18501, args.proxy_image), "GREETING": g}, work / "shop.db",
                                               args.parallelism, "http://127.0.0.1:18501/cgi-bin/count")
            (work / "shop-compose").mkdir()
            theirs, theirs_failed = bench_compose(work / "shop-compose", "shopcompose", lambda g: shop_compose(18502, work / "shop-compose", g),
                                                  5, "http://127.0.0.1:18502/cgi-bin/count")
            report("examples/shop (4 services, 5 containers + proxy)", ours, theirs, (ours_failed, theirs_failed))
        gen = work / "gen"
        gen.mkdir()
        manifest = gen / "portable.yaml"

        def gen_env(greeting: str) -> dict[str, str]:
            manifest.write_text(generated_manifest(args.services, 18503, greeting))
            return {"PORTABLE_PROXY_IMAGE": args.proxy_image}

        ours, ours_failed = bench_portable(manifest, gen_env, work / "gen.db", args.parallelism, "http://127.0.0.1:18503/cgi-bin/count")
        (work / "gen-compose").mkdir()
        theirs, theirs_failed = bench_compose(work / "gen-compose", "bench20compose", lambda g: generated_compose(args.services, 18504, g),
                                              args.services, "http://127.0.0.1:18504/cgi-bin/count")
        report(f"generated app ({args.services} services, dependency tree of depth 3)", ours, theirs, (ours_failed, theirs_failed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
