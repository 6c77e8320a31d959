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
    lines = [line for line in log.read_text().splitlines() if line.startswith("info-set")]
    assert lines == [
        "info-set guestinfo.portable.status starting",
        "info-set guestinfo.portable.status ready service=web revision=abc123",
    ]
    time.sleep(3)
    assert [line for line in log.read_text().splitlines() if line.startswith("info-set")] == lines  # stopped after ready


def test_vendor_data_holds_the_bootstrap_while_a_migrations_archives_are_on_their_way(tmp_path: Path) -> None:
    """cloud-init runs vendor scripts before the user data (the bootstrap, which starts the
    service): while guestinfo.portable.restore reads `pending` the script does not return, so
    the service starts only once the provider has unpacked the archives and said `done`."""
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    root.mkdir()
    (root / "status").write_text("starting\n")
    restore = tmp_path / "restore-key"
    restore.write_text("pending")
    (bin_dir / "vmware-rpctool").write_text(f'#!/bin/sh\ncase "$1" in "info-get guestinfo.portable.restore") cat {restore};; esac\n')
    (bin_dir / "vmware-rpctool").chmod(0o755)
    script = tmp_path / "vendor-data.sh"
    script.write_text(VENDOR_SCRIPT)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PORTABLE_ROOT": str(root)}
    shell = subprocess.Popen(["/bin/sh", str(script)], env=env)
    try:
        time.sleep(3)
        assert shell.poll() is None, "the vendor script returned while the archives were still pending"
        restore.write_text("done")
        assert shell.wait(timeout=10) == 0
    finally:
        shell.kill()
        (root / "status").write_text("ready service=web revision=abc123\n")  # ends the background relay


def test_proxy_relay_deploys_the_upstreams_it_reads_and_acknowledges_them(tmp_path: Path) -> None:
    """The front proxy's relay: `info-get` the upstreams, `kamal-proxy deploy` them inside the
    proxy container, then `info-set` the acknowledgement; `none` removes the route."""
    import signal

    from portable.plan.resources import Resource
    from portable.providers.vsphere.proxy import relay_script

    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    root.mkdir()
    (root / "status").write_text("ready service=web-lb revision=r1\n")
    wanted = tmp_path / "backends"
    wanted.write_text("10.0.0.5:8080,10.0.0.6:8080")
    calls = tmp_path / "calls.log"
    (bin_dir / "vmware-rpctool").write_text(
        f'#!/bin/sh\necho "rpctool $1" >> {calls}\n'
        f'case "$1" in "info-get guestinfo.portable.backends") cat {wanted};; esac\n'
    )
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "docker $*" >> {calls}\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    lb = Resource("load-balancer", "web", {"app": "shop", "service": "web", "image": "x", "published": 8000,
                                             "target_port": 8080, "health_path": "/health", "instance_size": "1x1024"})
    script = tmp_path / "relay.sh"
    script.write_text(relay_script(lb))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PORTABLE_ROOT": str(root)}
    shell = subprocess.Popen(["/bin/sh", str(script)], env=env, start_new_session=True)
    try:
        shell.wait(timeout=10)

        def seen(text: str) -> bool:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if calls.exists() and text in calls.read_text():
                    return True
                time.sleep(0.2)
            return False

        assert seen("rpctool info-set guestinfo.portable.backends.applied 10.0.0.5:8080,10.0.0.6:8080")
        log = calls.read_text()
        assert ("docker exec vm-shop-web-lb kamal-proxy deploy web --target 10.0.0.5:8080,10.0.0.6:8080 "
                "--health-check-path /health --deploy-timeout 120s --drain-timeout 5s") in log
        assert log.index("kamal-proxy deploy") < log.index("backends.applied")
        wanted.write_text("none")
        assert seen("rpctool info-set guestinfo.portable.backends.applied none")
        assert "docker exec vm-shop-web-lb kamal-proxy remove web" in calls.read_text()
    finally:
        os.killpg(shell.pid, signal.SIGTERM)  # the relay loop runs in the session we started
