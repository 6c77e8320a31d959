"""`portable exec` on the libcloud target (issue 20, item 3): libcloud's EC2 driver on moto,
the node brought up as a lab host (tests/providers/vm/instance_host.py), the command run over
SSH with `docker exec` in the container the node's real user data started. Without
`key_name` and `ssh` it is refused before the cloud is asked (test_verbs_libcloud.py and
tests/unit/test_verbs_refusals.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from exec_support import check_exec_story  # noqa: E402
from ssh_source import SshApp, deployed  # noqa: E402
from test_libcloud_ssh_source import cloud_app  # noqa: E402,F401  (the fixture: app, key pair, lab nodes, cleanup)

pytestmark = [pytest.mark.lab("moto", "docker", "registry", "images", "dbimages"), pytest.mark.timeout(600)]


def test_exec_runs_in_the_node_container_and_passes_its_exit_code(cloud_app: SshApp) -> None:  # noqa: F811
    deployed(cloud_app)
    (host,) = cloud_app.boot_all()
    check_exec_story(cloud_app, host.volume("data"))
