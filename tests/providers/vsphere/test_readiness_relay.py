"""The vendor-data relay that reports the bootstrap's outcome to vCenter, run as a guest would
run it: /bin/sh, with `vmware-rpctool` on PATH. The stand-in rpctool only records the
command line it is given (its documented interface: one `info-set KEY VALUE` argument)."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("pyVmomi")

from portable.providers.vsphere.readiness import VENDOR_SCRIPT  # noqa: E402


def test_relay_reports_each_status_change_and_stops_at_ready(tmp_path: Path) -> None:
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    root.mkdir()
    log = tmp_path / "rpctool.log"
    rpctool = bin_dir / "vmware-rpctool"
    rpctool.write_text(f'#!/bin/sh\necho "$1" >> {log}\n')
    rpctool.chmod(0o755)
    script = tmp_path / "vendor-data.sh"
    script.write_text(VENDOR_SCRIPT)
    (root / "status").write_text("starting\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PORTABLE_ROOT": str(root)}
    started = time.monotonic()
    subprocess.run(["/bin/sh", str(script)], env=env, check=True, timeout=10)
    assert time.monotonic() - started < 5, "the relay must not hold up cloud-init"
    time.sleep(1)
    (root / "status").write_text("ready service=web revision=abc123\n")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "ready" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.2)
    lines = log.read_text().splitlines()
    assert lines == [
        "info-set guestinfo.portable.status starting",
        "info-set guestinfo.portable.status ready service=web revision=abc123",
    ]
    time.sleep(3)
    assert log.read_text().splitlines() == lines  # stopped after ready: nothing more reported
