"""Shared by the state store tests: a fresh, empty store of each kind on the lab, the CLI,
a lock-holding helper process, and a TCP relay that can be cut to make a store unreachable.

Each test gets its own namespace: a new SQLite file, a new PostgreSQL schema on the lab's
server (dropped afterwards), a new prefix in one bucket on the lab's moto. The PostgreSQL
password travels in PGPASSWORD (libpq's standard source), never in the URL, so a test can
check that no message shows it.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BUCKET = "portable-state-tests"
KINDS = ("sqlite", "postgres", "s3")
S3_LEASE = 4  # seconds: short, so the tests of an expired lease stay quick (deploy tests use longer)


@dataclass
class StoreUnderTest:
    kind: str
    url: str
    env: dict[str, str]  # what a process needs to reach it (PGPASSWORD, AWS_ENDPOINT_URL, ...)

    def open(self) -> Any:
        from portable.state import open_store_url

        old = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return open_store_url(self.url)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def postgres_env(lab_env: Mapping[str, str]) -> dict[str, str]:
    return {"PGPASSWORD": lab_env["LAB_POSTGRES_PASSWORD"], "PGCONNECT_TIMEOUT": "5"}


def postgres_url(lab_env: Mapping[str, str], schema: str, *, host: str | None = None, port: int | None = None) -> str:
    return (f"postgresql://{lab_env['LAB_POSTGRES_USER']}@{host or lab_env['LAB_POSTGRES_HOST']}:{port or lab_env['LAB_POSTGRES_PORT']}"
            f"/{lab_env['LAB_POSTGRES_DB']}?schema={schema}")


def s3_env(lab_env: Mapping[str, str], endpoint: str | None = None) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint or lab_env["LAB_MOTO_URL"], "AWS_ACCESS_KEY_ID": lab_env.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": lab_env.get("AWS_SECRET_ACCESS_KEY", "testing"), "AWS_DEFAULT_REGION": lab_env.get("AWS_DEFAULT_REGION", "us-east-1")}


def ensure_bucket(lab_env: Mapping[str, str]) -> None:
    import boto3

    env = s3_env(lab_env)
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    try:
        s3.head_bucket(Bucket=BUCKET)
    except Exception:  # noqa: BLE001 - absent: create it
        s3.create_bucket(Bucket=BUCKET)


def drop_schema(lab_env: Mapping[str, str], schema: str) -> None:
    import psycopg

    with psycopg.connect(lab_env["LAB_POSTGRES_URL"], autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def new_store(kind: str, lab: Any, tmp_path: Path, *, lease: float = S3_LEASE) -> Iterator[StoreUnderTest]:
    """A fresh empty store of `kind` (requires its lab component), removed afterwards."""
    name = "t_" + uuid.uuid4().hex[:10]
    if kind == "sqlite":
        yield StoreUnderTest(kind, str(tmp_path / "state.db"), {})
    elif kind == "postgres":
        env = lab.require("postgres")
        yield StoreUnderTest(kind, postgres_url(env, name), postgres_env(env))
        drop_schema(env, name)
    elif kind == "s3":
        env = lab.require("moto")
        ensure_bucket(env)
        yield StoreUnderTest(kind, f"s3://{BUCKET}/{name}?lease={lease:g}", s3_env(env))
    else:
        raise ValueError(kind)


def portable(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it."""
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


class Holder:
    """A separate process holding a lock (tests/state/lock_holder.py), driven by lines on stdin."""

    def __init__(self, store: StoreUnderTest, app: str = "shop", target: str = "local", extra_env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "lock_holder.py"), store.url, app, target],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, **store.env, **(extra_env or {})},
        )
        first = self.line(60)
        if not first.startswith("LOCKED "):
            self.proc.kill()
            raise AssertionError(f"the holder did not get the lock: {first!r} {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.lock: dict[str, Any] = json.loads(first[len("LOCKED "):])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def line(self, timeout: float = 60) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"no answer from the lock holder within {timeout}s")
        return self.proc.stdout.readline().strip()

    def ask(self, command: str, timeout: float = 60) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.line(timeout)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask("release", 30)
            except (AssertionError, BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Relay:
    """A TCP relay on loopback in front of a store, in its own process: `cut()` kills it,
    so every connection through it drops and new ones are refused, as when a store's host
    goes away; `restore()` starts it again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None
        self.restore()

    def restore(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "tcp_relay.py"), str(self.port), self.upstream[0], str(self.upstream[1])],
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"READY"

    def cut(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        self.cut()


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def read_lines_until(proc: subprocess.Popen[str], needle: str, timeout: float) -> tuple[list[str], threading.Thread]:
    """Reads `proc`'s stderr lines until one contains `needle`; the returned thread goes on
    reading to the end (join it after the process exits to have every line)."""
    lines: list[str] = []
    found = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if needle in line:
                found.set()
        found.set()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    found.wait(timeout)
    return lines, thread
