"""Ctrl-C ends `portable logs --follow` within a second, whichever thread the kernel picks.

A process-directed SIGINT may be handed to any thread that does not block it. The test
aims it at each log reader thread in turn (kill(2) on a thread id delivers to that thread
first), with the service quiet so no new line would wake the main thread: the follow must
still end within 1 s with exit 130 and no traceback.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_support import Cli, LabImages, ensure_images, force_remove_app

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(300)]


@pytest.fixture
def quiet_app(tmp_path: Path) -> Iterator[tuple[Cli, Path]]:
    images: LabImages = ensure_images()
    name = "ih-quiet-" + uuid.uuid4().hex[:6]
    force_remove_app(name)
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  quiet:
    image: {images.worker}
    replicas: 2
    command: ["sh", "-c", "echo ready; exec sleep 100000"]
    stop_grace_period: 1s
    health: {{exec: {{command: "true"}}, interval: 1s}}
""")
    cli = Cli(tmp_path / "state.db", {"PORTABLE_PROXY_IMAGE": images.proxy})
    deployed = cli.run("deploy", "-f", str(manifest), "--yes")
    assert deployed.returncode == 0, deployed.stderr
    yield cli, manifest
    force_remove_app(name)


def _threads(pid: int) -> list[int]:
    return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)


def test_sigint_to_any_thread_ends_a_quiet_follow_within_a_second(quiet_app: tuple[Cli, Path]) -> None:
    _, manifest = quiet_app
    for target_thread in range(2):  # one reader thread per replica
        follower = subprocess.Popen(
            [sys.executable, "-c", "from portable.cli.main import main; main()", "logs", "-f", str(manifest), "--follow", "--tail", "5"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert follower.stdout is not None
            ready = [follower.stdout.readline() for _ in range(2)]  # both replicas' "ready": the follow is running
            assert all("| ready" in line for line in ready), ready
            deadline = time.monotonic() + 10
            while len(_threads(follower.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            readers = _threads(follower.pid)
            assert len(readers) >= 2, readers
            time.sleep(0.5)  # the main thread is now waiting for a line that will not come
            sent = time.monotonic()
            os.kill(readers[target_thread], signal.SIGINT)
            try:
                _, err = follower.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                pytest.fail(f"logs --follow still running 5 s after SIGINT reached reader thread {target_thread}")
            took = time.monotonic() - sent
            assert follower.returncode == 130, err
            assert "Traceback" not in err and "interrupted" in err, err
            assert took < 1.0, f"exited {took:.2f}s after SIGINT"
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.communicate()
