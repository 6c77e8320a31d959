"""What a team state store costs: `portable plan` and the lock round trip against the lab's
PostgreSQL (and S3 on moto) beside the embedded SQLite file, side by side in one run.

The app (one busybox container on the lab's Docker engine) is deployed once for real; each
store then gets the same 50-revision history. Timings alternate the stores run by run so
load on the machine hits all alike; medians are printed with the ratio to SQLite.
Budgets (issue 16): plan adds under 50 ms over SQLite, a lock round trip under 10 ms.

    bash tests/lab/lab up docker images postgres moto
    python bench/state_store.py [--runs 15] [--lock-runs 200]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

REVISIONS = 50
PLAN_BUDGET_MS = 50.0
LOCK_BUDGET_MS = 10.0
MANIFEST = """apiVersion: portable/v1
kind: Application
metadata:
  name: {name}
services:
  box:
    image: lab/busybox:1
    command: ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do /bin/busybox sleep 1; done"]
"""


def _lab_env() -> dict[str, str]:
    run = Path(os.environ.get("LAB_RUN", "/tmp/portable-lab"))
    try:
        env: dict[str, str] = json.loads((run / "env.json").read_text())
    except (OSError, ValueError):
        sys.exit(f"no lab environment at {run}/env.json: bash tests/lab/lab up docker images postgres moto")
    for key in ("LAB_POSTGRES_URL", "LAB_MOTO_URL"):
        if key not in env:
            sys.exit(f"{key} is not in {run}/env.json: bash tests/lab/lab up postgres moto")
    return env


def _portable() -> list[str]:
    exe = shutil.which("portable")
    return [exe] if exe else [sys.executable, "-m", "portable.cli.main"]


def _time_process(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return elapsed


def _fill(store: Any, app: str, revision: Any) -> None:
    history = [replace(revision, number=n, message=f"bench revision {n}") for n in range(1, REVISIONS + 1)]
    with store.lock(app, "local", "bench"):
        store.import_history(app, "local", history)


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="portable plan runs per store")
    parser.add_argument("--lock-runs", type=int, default=200, help="lock round trips per store")
    args = parser.parse_args()
    lab = _lab_env()
    from portable.state import open_store_url

    app = "bench-state-" + uuid.uuid4().hex[:6]
    schema = "bench_" + uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="portable-bench-state-"))
    manifest = work / "portable.yaml"
    manifest.write_text(MANIFEST.format(name=app))
    env = {**os.environ, "PGPASSWORD": lab["LAB_POSTGRES_PASSWORD"], "AWS_ENDPOINT_URL": lab["LAB_MOTO_URL"],
           "AWS_ACCESS_KEY_ID": lab.get("AWS_ACCESS_KEY_ID", "testing"), "AWS_SECRET_ACCESS_KEY": lab.get("AWS_SECRET_ACCESS_KEY", "testing"),
           "AWS_DEFAULT_REGION": lab.get("AWS_DEFAULT_REGION", "us-east-1")}
    os.environ.update({k: env[k] for k in ("PGPASSWORD", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
    deployed = work / "deployed.db"
    stores = {
        "sqlite": str(work / "state.db"),
        "postgres": f"postgresql://{lab['LAB_POSTGRES_USER']}@{lab['LAB_POSTGRES_HOST']}:{lab['LAB_POSTGRES_PORT']}/{lab['LAB_POSTGRES_DB']}?schema={schema}",
        "s3 (moto)": f"s3://portable-bench/{schema}",
    }
    import boto3

    s3 = boto3.client("s3")
    try:
        s3.head_bucket(Bucket="portable-bench")
    except Exception:  # noqa: BLE001 - absent: create it
        s3.create_bucket(Bucket="portable-bench")
    try:
        print(f"deploying {app} once on the lab's Docker engine ...", flush=True)
        subprocess.run([*_portable(), "deploy", "--yes", "--quiet", "-f", str(manifest), "--state", str(deployed)], check=True, env=env, stdout=subprocess.DEVNULL)
        revision = open_store_url(str(deployed)).current(app, "local")
        assert revision is not None
        opened = {name: open_store_url(url) for name, url in stores.items()}
        for store in opened.values():
            _fill(store, app, revision)

        plan_s: dict[str, list[float]] = {name: [] for name in stores}
        cmd = {name: [*_portable(), "plan", "-f", str(manifest), "--state", url] for name, url in stores.items()}
        for name in stores:
            _time_process(cmd[name], env)  # warm caches once
        for _ in range(args.runs):
            for name in stores:
                plan_s[name].append(_time_process(cmd[name], env))

        read_s: dict[str, list[float]] = {name: [] for name in stores}
        lock_s: dict[str, list[float]] = {name: [] for name in stores}
        for _ in range(args.runs):
            for name, url in stores.items():
                start = time.perf_counter()
                store = open_store_url(url)
                store.current(app, "local")
                read_s[name].append(time.perf_counter() - start)
                store.close()
        for _ in range(args.lock_runs):
            for name, store in opened.items():
                start = time.perf_counter()
                with store.lock(app, "local", "bench", wait=5):
                    pass
                lock_s[name].append(time.perf_counter() - start)

        base = {"plan": _median_ms(plan_s["sqlite"]), "read": _median_ms(read_s["sqlite"]), "lock": _median_ms(lock_s["sqlite"])}
        print(f"\nstate store benchmark: {REVISIONS} revisions, {args.runs} plan runs and {args.lock_runs} lock round trips per store, alternated; medians")
        print(f"{'measure':44}" + "".join(f"{name:>20}" for name in stores))
        rows = (("portable plan, whole process", "plan", plan_s), ("open store + current revision, in process", "read", read_s), ("lock acquire + release, in process", "lock", lock_s))
        for label, key, samples in rows:
            cells = []
            for name in stores:
                med = _median_ms(samples[name])
                cells.append(f"{med:8.2f}ms {med / base[key]:5.2f}x" if name != "sqlite" else f"{med:8.2f}ms {'1.00x':>6}")
            print(f"{label:44}" + "".join(f"{c:>20}" for c in cells))
        added = _median_ms(plan_s["postgres"]) - base["plan"]
        lock_pg = _median_ms(lock_s["postgres"])
        print(f"\nplan on PostgreSQL adds {added:+.1f} ms over SQLite (budget {PLAN_BUDGET_MS:.0f} ms): {'within' if added < PLAN_BUDGET_MS else 'OVER'}")
        print(f"PostgreSQL lock round trip {lock_pg:.2f} ms (budget {LOCK_BUDGET_MS:.0f} ms): {'within' if lock_pg < LOCK_BUDGET_MS else 'OVER'}")
        for store in opened.values():
            store.close()
        return 0 if added < PLAN_BUDGET_MS and lock_pg < LOCK_BUDGET_MS else 1
    finally:
        subprocess.run([*_portable(), "destroy", "--yes", "--quiet", "-f", str(manifest), "--state", str(deployed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            import psycopg

            with psycopg.connect(lab["LAB_POSTGRES_URL"], autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        except Exception as exc:  # noqa: BLE001 - cleanup only
            print(f"note: could not drop schema {schema}: {exc}", file=sys.stderr)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="portable-bench", Prefix=schema + "/"):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket="portable-bench", Key=obj["Key"])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
