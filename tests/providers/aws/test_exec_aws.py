"""`portable exec` on the aws target (issue 20, item 3): over SSH to the service's instance on
moto, brought up as a lab host at its private address (tests/providers/vm/instance_host.py),
the command run with `docker exec` in the container the instance's real user data started.
Without `key_name` and `ssh` it is refused before moto is asked (test_verbs_aws.py and
tests/unit/test_verbs_refusals.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from exec_support import check_exec_story, portable_exec  # noqa: E402
from ssh_source import SshApp, deployed  # noqa: E402
from test_aws_ssh_source import aws_app  # noqa: E402,F401  (the fixture: app, key pair, lab instances, cleanup)

pytestmark = [pytest.mark.lab("moto", "docker", "registry", "images", "dbimages"), pytest.mark.timeout(600)]


def test_exec_runs_in_the_instance_container_and_passes_its_exit_code(aws_app: SshApp) -> None:  # noqa: F811
    deployed(aws_app)
    (host,) = aws_app.boot_all()
    check_exec_story(aws_app, host.volume("data"))
    # --tty: the command gets a terminal (the server's pty; stderr then comes with stdout, as with `ssh -t`)
    tty = portable_exec(aws_app, "web", "-t", "aws", "--tty", "--", "sh", "-c", "test -t 0 && test -t 1 && echo on a tty >&2; exit 4")
    assert tty.returncode == 4 and tty.stdout.replace("\r", "").strip() == "on a tty" and tty.stderr == "", tty.stdout + tty.stderr
