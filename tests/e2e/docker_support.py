"""Shared by the docker end-to-end tests: the engine, the test images, the CLI, a poller.

The lab (tests/lab) normally provides the engine and lab/* images. When an image is missing
it is built here from the same recipe (busybox-static imported, then `docker build`), so the
tests depend only on a running engine; kamal-proxy is built from the Go module proxy.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
KAMAL_PROXY_VERSION = "v0.9.2"
WEB_DOCKERFILE = r"""FROM lab/busybox:1
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /www/cgi-bin /data && echo hello > /www/index.html
RUN printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho ok\n' > /www/cgi-bin/health && chmod +x /www/cgi-bin/health
RUN printf '#!/bin/sh\nn=$(cat /data/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/count\necho "Content-Type: text/plain"\necho\necho "count=$n greeting=$GREETING"\n' > /www/cgi-bin/count && chmod +x /www/cgi-bin/count
HEALTHCHECK --interval=2s --timeout=2s --retries=3 CMD wget -q -O- http://127.0.0.1:8080/cgi-bin/health || exit 1
CMD ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
"""
WORKER_DOCKERFILE = """FROM lab/busybox:1
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh", "-c", "while true; do echo working; sleep 5; done"]
"""


def engine_or_skip() -> None:
    """Fails under CI=true, skips loudly otherwise, when no Docker engine answers."""
    ok = subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    if ok:
        return
    message = "no Docker engine answers (start it with: bash tests/lab/lab up docker)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _has_image(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def _build(tag: str, dockerfile: str, files: Mapping[str, Path] = {}) -> None:
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_text(dockerfile)
        for rel, src in files.items():
            dst = Path(ctx, rel)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        subprocess.run(["docker", "build", "-q", "-t", tag, ctx], check=True, capture_output=True, timeout=300)


def _busybox() -> None:
    if _has_image("lab/busybox:1"):
        return
    with tempfile.TemporaryDirectory() as root:
        Path(root, "bin").mkdir()
        shutil.copy2("/bin/busybox", Path(root, "bin", "busybox"))
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", "lab/busybox:1"], stdin=tar.stdout, check=True, capture_output=True)
        tar.wait()


def _kamal_proxy() -> str:
    if _has_image("lab/kamal-proxy:1"):
        return "lab/kamal-proxy:1"
    tag = f"portable-test/kamal-proxy:{KAMAL_PROXY_VERSION}"
    if _has_image(tag):
        return tag
    if shutil.which("go") is None:
        pytest.skip("lab/kamal-proxy:1 is missing and Go is not installed to build it")
    cache = Path(os.environ.get("LAB_CACHE", "/var/cache/portable-lab"))
    binary = cache / "bin" / f"kamal-proxy-{KAMAL_PROXY_VERSION}"
    if not binary.exists():
        src = cache / "src" / f"kamal-proxy-{KAMAL_PROXY_VERSION}"
        src.mkdir(parents=True, exist_ok=True)
        binary.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-modcacherw"}
        (src / "go.mod").write_text("module local.invalid/kamal-proxy-bin\n\ngo 1.24\n")
        mod = f"github.com/basecamp/kamal-proxy@{KAMAL_PROXY_VERSION}"
        for argv in (["go", "mod", "edit", f"-require={mod}", "-tool=github.com/basecamp/kamal-proxy/cmd/kamal-proxy"],
                     ["go", "mod", "tidy"],
                     ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), "github.com/basecamp/kamal-proxy/cmd/kamal-proxy"]):
            subprocess.run(argv, cwd=src, env=env, check=True, capture_output=True, timeout=900)
    _build(tag, 'FROM scratch\nCOPY kamal-proxy /usr/local/bin/kamal-proxy\nCOPY tmp/ /tmp/\nENV HOME=/tmp\n'
                'EXPOSE 80 443\nCMD ["kamal-proxy", "run"]\n',
           {"kamal-proxy": binary, "tmp/.keep": Path(__file__)})
    return tag


@dataclass(frozen=True)
class LabImages:
    web: str
    worker: str
    proxy: str


def ensure_images() -> LabImages:
    engine_or_skip()
    _busybox()
    if not _has_image("lab/web:1"):
        _build("lab/web:1", WEB_DOCKERFILE)
    worker = "portable-test/worker:1"  # busybox with a shell and no health check of its own
    if not _has_image(worker):
        _build(worker, WORKER_DOCKERFILE)
    return LabImages(web="lab/web:1", worker=worker, proxy=_kamal_proxy())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cli:
    """Runs `portable` as a user would, with a private state file and a fixed environment."""

    state: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, extra_env: Mapping[str, str] | None = None, timeout: float = 420) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env, **(extra_env or {})}
        argv = ["portable", *args]
        if args and args[0] in ("deploy", "plan", "status", "destroy", "rollback", "history"):
            argv += ["--state", str(self.state)]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)


def http_get(url: str, timeout: float = 3.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def wait_for(url: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return http_get(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


class Poller(threading.Thread):
    """Requests `url` back to back until stopped, counting answers and failures."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.ok = 0
        self.failures: list[str] = []
        self.bodies: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.bodies.append(http_get(self.url).strip())
                self.ok += 1
            except Exception as exc:  # every kind of failure counts, that is the point
                self.failures.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def docker_json(*args: str) -> Any:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def app_objects(app: str) -> dict[str, list[str]]:
    """Names of the containers, networks and volumes on the engine labelled as `app`'s."""
    label = f"label=io.portable.app={app}"

    def names(*cmd: str) -> list[str]:
        out = subprocess.run(["docker", *cmd, "--filter", label, "--format", "{{.Name}}" if cmd[0] != "ps" else "{{.Names}}"],
                             capture_output=True, text=True, check=True).stdout
        return sorted(line for line in out.splitlines() if line)

    return {"containers": names("ps", "-a"), "networks": names("network", "ls"), "volumes": names("volume", "ls")}


def container_starts(app: str) -> dict[str, tuple[str, str]]:
    """name -> (id, StartedAt) of every container of `app`: equal before and after = untouched."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.portable.app={app}"],
                         capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return {}
    data = docker_json("inspect", *ids)
    return {d["Name"].lstrip("/"): (d["Id"], d["State"]["StartedAt"]) for d in data}


def force_remove_app(app: str) -> None:
    """Test cleanup only: removes whatever a failed test left behind (never used to assert)."""
    label = f"label=io.portable.app={app}"
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    for kind in ("network", "volume"):
        names = subprocess.run(["docker", kind, "ls", "-q", "--filter", label], capture_output=True, text=True).stdout.split()
        if names:
            subprocess.run(["docker", kind, "rm", *names], capture_output=True)
