"""Smoke tests of the lab parts in tests/lab/parts.sh: each one does what the tests that use it rely on.

Run after `bash tests/lab/lab up` (or through `bash tests/lab/lab test tests/lab`). Under CI=true a
component that does not answer fails these tests (tests/conftest.py, `lab.require`).
"""
from __future__ import annotations

import os
import subprocess
import uuid
from typing import Any


def run(*argv: str, timeout: float = 120, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command; a failure shows its whole output."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def test_postgres_component_accepts_the_env_files_url(lab: Any) -> None:
    """The team-state store's database: the URL logs in, the user creates a schema and reads rows back."""
    env = lab.require("postgres")
    url = env["LAB_POSTGRES_URL"]
    assert url == (f"postgresql://{env['LAB_POSTGRES_USER']}:{env['LAB_POSTGRES_PASSWORD']}@"
                   f"{env['LAB_POSTGRES_HOST']}:{env['LAB_POSTGRES_PORT']}/{env['LAB_POSTGRES_DB']}")
    schema = "smoke_" + uuid.uuid4().hex[:8]
    sql = (f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.apps(name text primary key, n int);"
           f"INSERT INTO {schema}.apps VALUES ('a', 1), ('b', 2);")
    try:
        run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql)
        rows = run("psql", "-X", "-t", "-A", url, "-c", f"SELECT name || '=' || n FROM {schema}.apps ORDER BY name")
        assert rows.stdout.split() == ["a=1", "b=2"]
        who = run("psql", "-X", "-t", "-A", url, "-c",
                  "SELECT current_user, current_database(), rolcreatedb FROM pg_roles WHERE rolname = current_user")
        assert who.stdout.strip() == f"{env['LAB_POSTGRES_USER']}|{env['LAB_POSTGRES_DB']}|t"
    finally:
        run("psql", "-X", "-q", url, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE", check=False)
    bad = run("psql", "-X", url.replace(env["LAB_POSTGRES_PASSWORD"], "wrong-password"), "-c", "select 1",
              check=False)
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr
