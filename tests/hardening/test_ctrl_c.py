"""Ctrl-C in the middle of a deploy (issue 17's last defect): the command ends within about a
second of SIGINT with exit 130, the revision is recorded as interrupted (failed), the lock is
released, and a plain rerun converges with exactly the app's instances.

Two targets: docker on the lab's real engine A (the workers sit in a health wait that would last
minutes) and aws on moto through toxiproxy with 1 s of latency (the workers sit in HTTP calls).
The time is measured from the signal to the process's exit. Under a loaded machine the bound is
asserted with a margin (2 s) and the measured time is printed; the issue's 1 s is what the
engine does (it waits for nothing), which the figures show.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wire import WireTarget  # noqa: E402

from contract_app import TARGET, manifest_text  # noqa: E402

pytestmark = [pytest.mark.timeout(600)]

BOUND_S = 2.0  # the 1 s, with a margin for a loaded 2-core CI machine
CLI = [sys.executable, "-c", "from portable.cli.main import main; main()"]


def _interrupt_when(argv: list[str], env: dict[str, str], marker: str, settle: float) -> tuple[int, float, str]:
    """Runs `argv`, sends SIGINT `settle` s after `marker` appears on stderr; returns (exit code, seconds from the signal to the exit, stderr)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if marker in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(240), f"{marker!r} never appeared:\n{''.join(lines)}"
        time.sleep(settle)
        assert proc.poll() is None, f"the command ended before the signal:\n{''.join(lines)}"
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 30 s after SIGINT:\n{''.join(lines)}")
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=5)
    return proc.returncode, took, "".join(lines)


def _assert_interrupted(code: int, took: float, err: str, history: str, what: str) -> None:
    print(f"\n{what}: exited {took:.3f}s after SIGINT (exit {code})")
    assert code == 130, f"exit {code} (want 130):\n{err}"
    assert "Traceback" not in err and "error: interrupted" in err, err
    assert took < BOUND_S, f"{what}: exited {took:.2f}s after SIGINT (want < {BOUND_S}s)"
    newest = [line for line in history.splitlines() if line.strip()][-1]
    assert "failed" in newest and "Ctrl-C" in newest, history


# ---------------------------------------------------------------------------- docker
SLOW_HEALTH = 'health: {exec: {command: "test -f /tmp/never"}, interval: 1s, start_period: 300s}'
QUICK_HEALTH = 'health: {exec: {command: "true"}, interval: 1s}'


def _docker_manifest(name: str, image: str, health: str) -> str:
    return f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  slow:
    image: {image}
    replicas: 2
    command: ["sh", "-c", "exec sleep 100000"]
    stop_grace_period: 1s
    {health}
"""


def _containers(app: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=io.portable.app={app}", "--format", "{{.Names}}"], capture_output=True, text=True, check=True)
    return sorted(out.stdout.split())


def test_ctrl_c_during_a_docker_deploy(lab: Any, tmp_path: Path) -> None:
    env_lab = lab.require("docker", "images")
    name = f"hci{uuid.uuid4().hex[:6]}"
    manifest, state = tmp_path / "portable.yaml", tmp_path / "state.db"
    env = dict(os.environ, PORTABLE_PROXY_IMAGE=env_lab.get("LAB_PROXY_IMAGE", "lab/kamal-proxy:1"))
    image = env_lab.get("LAB_WORKER_IMAGE", "lab/worker:1")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args, "-f", str(manifest), "--state", str(state)], env=env, capture_output=True, text=True, timeout=300)

    try:
        manifest.write_text(_docker_manifest(name, image, SLOW_HEALTH))
        code, took, err = _interrupt_when([*CLI, "deploy", "--yes", "-f", str(manifest), "--state", str(state)], env, "creating", 1.5)
        _assert_interrupted(code, took, err, cli("history").stdout, "docker deploy")
        # the lock is free (a held lock fails at once with --lock-timeout 0), and a rerun converges
        manifest.write_text(_docker_manifest(name, image, QUICK_HEALTH))
        rerun = subprocess.run([*CLI, "deploy", "--yes", "--lock-timeout", "0", "-f", str(manifest), "--state", str(state)], env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        running = _containers(name)
        assert len(running) == 2, running  # the interrupted revision's containers were replaced, not kept beside
        assert "deployed" in [line for line in cli("history").stdout.splitlines() if line.strip()][-1]
    finally:
        cli("destroy", "--yes", "--volumes")
        for leftover in _containers(name):
            subprocess.run(["docker", "rm", "-f", leftover], capture_output=True)


# ---------------------------------------------------------------------------- aws on moto
def test_ctrl_c_during_an_aws_deploy(lab: Any, faults: Any, tmp_path: Path) -> None:
    env_lab = lab.require("faults", "moto")
    wire = WireTarget.open("aws", env_lab, tmp_path)
    name = f"hca{uuid.uuid4().hex[:6]}"
    manifest, state = tmp_path / "portable.yaml", tmp_path / "state.db"
    env = dict(wire.ct.env(), CT_REPLICAS="2")
    argv = [*CLI, "deploy", "--yes", "-f", str(manifest), "-t", TARGET, "--state", str(state)]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args, "-f", str(manifest), "-t", TARGET, "--state", str(state)], env=env, capture_output=True, text=True, timeout=600)

    try:
        manifest.write_text(manifest_text(name, wire.settings_via(name, wire.tcp_endpoint(faults))))  # a toxiproxy proxy of this test's own
        faults.latency(wire.toxi_proxy, 1000)  # every call takes a second: SIGINT lands while workers wait on moto
        code, took, err = _interrupt_when(argv, env, "creating", 0.5)
        faults.reset()
        _assert_interrupted(code, took, err, cli("history").stdout, "aws deploy")
        rerun = cli("deploy", "--yes", "--lock-timeout", "0")
        assert rerun.returncode == 0, rerun.stderr
        assert wire.instances(name) == 2, wire.ct.objects(name)
        assert wire.load_balancers(name) <= 1, wire.ct.objects(name)
        assert "deployed" in [line for line in cli("history").stdout.splitlines() if line.strip()][-1]
    finally:
        faults.reset()
        manifest.write_text(manifest_text(name, wire.settings_via(name, None)))
        cli("destroy", "--yes", "--volumes")
        wire.close([name])
