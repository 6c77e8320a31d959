"""Shared by the aws and libcloud `portable exec` tests: the real CLI run against an app
deployed on moto whose instance is a lab host (instance_host.py), and what a user sees."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from json_schemas import validate

from ssh_source import SshApp, secrets_absent


def portable_exec(app: SshApp, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`portable exec -f MANIFEST ARGS`, as a user types it (exec takes no --state)."""
    return subprocess.run([sys.executable, "-m", "portable.cli.main", "exec", "-f", str(app.manifest), *args],
                          env=app.env, input=stdin, capture_output=True, text=True, timeout=120)


def check_exec_story(app: SshApp, volume: Path) -> None:
    """The command runs in the service's container on the instance, its output streamed and
    its exit code passed through; stdin with -i; a replica that does not run is exit 2."""
    said = portable_exec(app, "web", "-t", app.target, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert said.returncode == 3, said.stdout + said.stderr
    assert said.stdout == "hi\n" and said.stderr == "oops\n"

    # -i: the local input reaches the command, which sees EOF; it ran where the volume is mounted
    fed = portable_exec(app, "web", "-t", app.target, "-i", "--", "sh", "-c", "cat > /data/fed.txt && wc -c < /data/fed.txt", stdin="fed through ssh\n")
    assert fed.returncode == 0, fed.stderr
    assert fed.stdout.strip() == "16" and (volume / "fed.txt").read_text() == "fed through ssh\n"

    as_json = portable_exec(app, "web", "-t", app.target, "-o", "json", "--", "sh", "-c", "echo hi; exit 3")
    assert as_json.returncode == 3, as_json.stderr
    doc = validate("exec", json.loads(as_json.stdout))
    assert (doc["exit"], doc["stdout"], doc["replica"]) == (3, "hi\n", 1)

    absent = portable_exec(app, "web", "-t", app.target, "--replica", "2", "--", "true")
    assert absent.returncode == 2 and "web has no running replica 2" in absent.stderr and "running replicas: 1 (" in absent.stderr, absent.stderr
    secrets_absent(app.key_file, said.stdout, said.stderr, fed.stdout, fed.stderr, as_json.stdout, absent.stderr)
