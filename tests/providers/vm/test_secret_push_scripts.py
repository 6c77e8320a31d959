"""The two shell halves of a pushed secret, run for real with `sh` on this machine: the
bootstrap that waits (bounded) for the secrets, and the script the provider runs over SSH or
VMware Tools to write them (providers/vm/secret_push.py). No engine, no cloud."""
from __future__ import annotations

import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from portable.providers.vm.bootstrap import render_bootstrap
from portable.providers.vm.secret_fetch import PUSHED
from portable.providers.vm.secret_push import NOT_STARTED, payload, write_script

SPEC: dict[str, Any] = {
    "app": "pushapp", "service": "web", "revision": "0123456789ab", "image": "127.0.0.1:5000/lab/web:1", "command": None, "args": None,
    "env": {}, "secrets": [{"name": "api-token", "path": "/run/secrets/token", "digest": "d"}], "files": [], "ports": [], "volumes": [],
    "health": None, "restart": "always", "user": None, "stop_grace_s": 2, "labels": {}, "peers": [], "instance_size": "1x512", "replicas": 1,
}
VALUE = b"push-value-\x00\xff line\nnext"


def bootstrap(root: Path, wait: int, docker: str = "false") -> subprocess.Popen[str]:
    script = render_bootstrap(SPEC, secret_source=PUSHED)
    env = {"PATH": "/usr/bin:/bin", "PORTABLE_ROOT": str(root), "PORTABLE_SKIP_HOST_SETUP": "1", "PORTABLE_SECRET_WAIT": str(wait), "PORTABLE_DOCKER": docker}
    return subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def push(root: Path, values: dict[str, bytes]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sh", "-c", write_script(SPEC, root=str(root))], input=payload(values), capture_output=True, timeout=30)


def test_the_user_data_names_the_secret_and_never_holds_a_value() -> None:
    script = render_bootstrap(SPEC, secrets={"api-token": VALUE}, secret_source=PUSHED)  # a value given is ignored
    assert "wait_secrets .delivered-0123456789ab api-token" in script
    assert "write_secret" not in script.split("wait_secrets()")[-1] and "cHVzaC12YWx1ZS" not in script


def test_a_secret_never_pushed_fails_the_bootstrap_within_its_bound(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = bootstrap(tmp_path, wait=2)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert time.monotonic() - started < 15
    assert "the secrets (api-token) were not delivered within 2s" in (tmp_path / "status").read_text()


def test_the_push_before_the_bootstrap_started_changes_nothing(tmp_path: Path) -> None:
    done = push(tmp_path, {"api-token": VALUE})
    assert done.returncode == NOT_STARTED
    assert list(tmp_path.iterdir()) == []


def test_a_pushed_secret_is_a_root_only_file_and_lets_the_bootstrap_go_on(tmp_path: Path) -> None:
    proc = bootstrap(tmp_path, wait=60)
    deadline = time.monotonic() + 20
    while not (tmp_path / "status").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    result: list[subprocess.CompletedProcess[bytes]] = []
    pusher = threading.Thread(target=lambda: result.append(push(tmp_path, {"api-token": VALUE})))
    pusher.start()
    pusher.join(30)
    assert result and result[0].returncode == 0, result and result[0].stderr
    # past the wait: the next step is the image pull (PORTABLE_DOCKER=false refuses it; stopped here)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "pulling" in line or "FAILED" in line:
            break
    proc.kill()
    proc.wait(10)
    assert lines and "portable: pulling 127.0.0.1:5000/lab/web:1" in lines[-1], lines
    secret = tmp_path / "secrets" / "api-token"
    assert secret.read_bytes() == VALUE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o400
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert (tmp_path / "secrets" / ".delivered-0123456789ab").exists()
    assert not [p for p in (tmp_path / "secrets").iterdir() if p.name.endswith(".new")]
