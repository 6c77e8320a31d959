"""`--state` values that cannot work: one sentence naming what to fix, exit 2 for input and
1 for a store that does not answer, in bounded time, the password never shown."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from store_support import BUCKET, ensure_bucket, portable, postgres_env, postgres_url, s3_env


def _one_sentence(stderr: str) -> str:
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), stderr
    assert all(line.startswith("  hint: ") for line in lines[1:]), stderr
    return stderr


@pytest.mark.parametrize(("url", "says"), [
    ("mysql://u@127.0.0.1/db", "unknown state store scheme mysql://"),
    ("postgresql://u@127.0.0.1:notaport/db", "the port is not a number"),
    ("postgresql://u@127.0.0.1/db?schema=Bad-Name", "schema 'Bad-Name' must be lower-case letters, digits and _"),
    ("postgresql://u@127.0.0.1/db?nosuchoption=1", "is not a valid PostgreSQL URL"),
    ("s3://", "names no bucket"),
    ("s3://bucket/prefix?lease=soon", "lease must be a number of seconds"),
    ("s3://bucket/prefix?region=x", "unknown option region"),
    ("sqlite://", "names no file"),
])
def test_malformed_state_urls_are_bad_input(url: str, says: str, tmp_path: Path) -> None:
    result = portable("state", "list", "--state", url, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result
    assert says in _one_sentence(result.stderr)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_postgres_nobody_listening_is_unreachable_exit_1(tmp_path: Path) -> None:
    result = portable("state", "list", "--state", f"postgresql://portable@127.0.0.1:{_closed_port()}/portable", env={"PGCONNECT_TIMEOUT": "3"}, cwd=tmp_path, timeout=60)
    assert result.returncode == 1, result
    assert "is unreachable" in _one_sentence(result.stderr)


def test_postgres_wrong_password_is_input_and_never_shown(lab: Any, tmp_path: Path) -> None:
    env = lab.require("postgres")
    secret = "wrong-pw-" + env["LAB_POSTGRES_PASSWORD"][:6]
    in_url = postgres_url(env, "t_pw").replace(f"{env['LAB_POSTGRES_USER']}@", f"{env['LAB_POSTGRES_USER']}:{secret}@")
    for url, extra in ((in_url, {}), (postgres_url(env, "t_pw"), {"PGPASSWORD": secret})):
        result = portable("state", "list", "--state", url, env=extra, cwd=tmp_path, timeout=60)
        assert result.returncode == 2, result
        text = _one_sentence(result.stderr)
        assert "refused the user or password" in text and "PGPASSWORD" in text
        assert secret not in result.stderr + result.stdout
        assert env["LAB_POSTGRES_PASSWORD"] not in result.stderr + result.stdout


def test_postgres_missing_database_is_input(lab: Any, tmp_path: Path) -> None:
    env = lab.require("postgres")
    url = postgres_url(env, "t_db").replace(f"/{env['LAB_POSTGRES_DB']}?", "/no_such_database?")
    result = portable("state", "list", "--state", url, env=postgres_env(env), cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result
    assert "does not exist" in _one_sentence(result.stderr)


def test_postgres_password_in_the_url_is_not_echoed_when_the_store_is_used(lab: Any, tmp_path: Path) -> None:
    env = lab.require("postgres")
    result = portable("state", "list", "--state", env["LAB_POSTGRES_URL"] + "?schema=t_echo", "-o", "json", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result
    assert env["LAB_POSTGRES_PASSWORD"] not in result.stdout + result.stderr
    assert "portable:***@" in result.stdout


def test_s3_missing_bucket_is_input(lab: Any, tmp_path: Path) -> None:
    env = lab.require("moto")
    result = portable("state", "list", "--state", "s3://no-such-bucket-portable/x", env=s3_env(env), cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result
    assert "the bucket no-such-bucket-portable" in _one_sentence(result.stderr) and "does not exist" in result.stderr


def test_s3_endpoint_not_answering_is_unreachable_exit_1(lab: Any, tmp_path: Path) -> None:
    env = lab.require("moto")
    ensure_bucket(env)
    result = portable("state", "list", "--state", f"s3://{BUCKET}/x", env=s3_env(env, f"http://127.0.0.1:{_closed_port()}"), cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result
    assert "is unreachable" in _one_sentence(result.stderr)
