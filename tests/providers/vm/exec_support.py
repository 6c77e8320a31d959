"""Shared by the aws and libcloud `portable exec` tests: the real CLI run against an app
deployed on moto whose instance is a lab host (instance_host.py), and what a user sees
(`streams_as_it_comes` also by tests/e2e/test_exec_vsphere.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ssh_source import SshApp, secrets_absent


def portable_exec(app: SshApp, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`portable exec -f MANIFEST ARGS`, as a user types it (exec takes no --state)."""
    return subprocess.run([sys.executable, "-m", "portable.cli.main", "exec", "-f", str(app.manifest), *args],
                          env=app.env, input=stdin, capture_output=True, text=True, timeout=120)


def streams_as_it_comes(argv: list[str], env: dict[str, str], pause_s: int) -> None:
    """The first line of `echo first; sleep PAUSE; echo second` is printed while the command still runs."""
    command = ["sh", "-c", f"echo first; sleep {pause_s}; echo second"]
    proc = subprocess.Popen([*argv, "--", *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        running = proc.poll() is None
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert (first, rest, proc.returncode) == ("first\n", "second\n", 0), err
    assert running, "the first line came only once the command had ended"


def check_exec_story(app: SshApp, volume: Path) -> None:
    """The command runs in the service's container on the instance, its output streamed (a
    line printed while the command still runs) and its exit code passed through; stdin with -i; a replica that does not run is exit 2."""
    said = portable_exec(app, "web", "-t", app.target, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert said.returncode == 3, said.stdout + said.stderr
    assert said.stdout == "hi\n" and said.stderr == "oops\n"

    # -i: the local input reaches the command, which sees EOF; it ran where the volume is mounted
    fed = portable_exec(app, "web", "-t", app.target, "-i", "--", "sh", "-c", "cat > /data/fed.txt && wc -c < /data/fed.txt", stdin="fed through ssh\n")
    assert fed.returncode == 0, fed.stderr
    assert fed.stdout.strip() == "16" and (volume / "fed.txt").read_text() == "fed through ssh\n"

    streams_as_it_comes([sys.executable, "-m", "portable.cli.main", "exec", "-f", str(app.manifest), "web", "-t", app.target], app.env, 4)

    absent = portable_exec(app, "web", "-t", app.target, "--replica", "2", "--", "true")
    assert absent.returncode == 2 and "web has no running replica 2" in absent.stderr and "running replicas: 1 (" in absent.stderr, absent.stderr
    secrets_absent(app.key_file, said.stdout, said.stderr, fed.stdout, fed.stderr, absent.stderr)
