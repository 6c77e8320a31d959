"""How long writes are unavailable while a stateful app moves between two Docker engines.

Side by side in one run, on the lab's engines A and B, with a 100 MB volume:
  1. `portable migrate --from a --to b --quiesce`: a first pass archives and restores the
     volume while A still serves; then A's writers stop, a second pass moves only what
     changed (checksummed), B starts behind its proxy, is health-checked, A is retired;
  2. what a user would otherwise do by hand: stop the container on A, pipe a tar of the
     volume from A into a new volume on B (`docker run ... tar c | docker -H B run ... tar x`),
     `docker run` the service on B, wait for it to answer.
A client writes (GET /cgi-bin/count increments a counter on the volume) to A, then to B, as
fast as it can; the window is the time from its last successful write on A to its first on
B. Each is run --rounds times (default 3), alternating; prints the medians and their ratio.

    bash tests/lab/lab up docker docker_b images && python bench/migrate_window.py [--mb 100] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: benchmove}
services:
  kv:
    image: lab/web:1
    ports: [{port: 8080, expose: public, published: PORT_A}]
    volumes: [{volume: data, path: /data}]
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 1s, timeout: 2s, retries: 3}
volumes: {data: {size: 1Gi}}
targets:
  a: {provider: docker, host: "HOST_A"}
  b: {provider: docker, host: "HOST_B"}
overrides:
  b: {services: {kv: {ports: [{port: 8080, expose: public, published: PORT_B}]}}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker(host: str, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, check=True, **kw)  # type: ignore[call-overload]


class Writer(threading.Thread):
    """Writes to A until it fails, then to B; records the last A and first B success."""

    def __init__(self, url_a: str, url_b: str) -> None:
        super().__init__(daemon=True)
        self.urls = (url_a, url_b)
        self.last_a = 0.0
        self.first_b = 0.0
        self.done = threading.Event()

    def _write(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def run(self) -> None:
        deadline = time.monotonic() + 900
        while not self.done.is_set() and time.monotonic() < deadline:
            if self._write(self.urls[0]):
                self.last_a = time.monotonic()
            elif self._write(self.urls[1]):
                self.first_b = time.monotonic()
                return
            time.sleep(0.01)

    @property
    def window(self) -> float:
        return self.first_b - self.last_a


def fill(host: str, container: str, mb: int) -> None:
    docker(host, "exec", container, "sh", "-c", f"head -c {mb * 1024 * 1024} /dev/urandom > /data/blob && echo 0 > /data/count")


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def run_portable(host_a: str, host_b: str, mb: int, workdir: Path) -> float:
    pa, pb = free_port(), free_port()
    manifest = workdir / "portable.yaml"
    manifest.write_text(MANIFEST.replace("PORT_A", str(pa)).replace("PORT_B", str(pb)).replace("HOST_A", host_a).replace("HOST_B", host_b))
    env = {**os.environ, "PORTABLE_PROXY_IMAGE": os.environ.get("PORTABLE_PROXY_IMAGE", "lab/kamal-proxy:1")}
    state = str(workdir / "state.db")
    subprocess.run(["portable", "deploy", "-f", str(manifest), "-t", "a", "--yes", "--quiet", "--state", state], env=env, check=True, capture_output=True)
    url_a, url_b = (f"http://127.0.0.1:{p}/cgi-bin/count" for p in (pa, pb))
    wait_http(url_a)
    fill(host_a, "benchmove-kv-1", mb)
    writer = Writer(url_a, url_b)
    writer.start()
    time.sleep(1)
    out = subprocess.run(["portable", "migrate", "-f", str(manifest), "--state", state, "--from", "a", "--to", "b", "--yes", "--quiesce"], env=env, capture_output=True, text=True)
    writer.join(120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    subprocess.run(["portable", "destroy", "-f", str(manifest), "-t", "b", "--yes", "--volumes", "--quiet", "--state", state], env=env, check=True, capture_output=True)
    docker(host_a, "volume", "rm", "benchmove_data")
    return writer.window


def run_by_hand(host_a: str, host_b: str, mb: int) -> float:
    pa, pb = free_port(), free_port()
    docker(host_a, "volume", "create", "byhand_data")
    docker(host_a, "run", "-d", "--name", "byhand-a", "-p", f"127.0.0.1:{pa}:8080", "-v", "byhand_data:/data", "lab/web:1")
    url_a, url_b = (f"http://127.0.0.1:{p}/cgi-bin/count" for p in (pa, pb))
    wait_http(url_a)
    fill(host_a, "byhand-a", mb)
    for image in ("lab/web:1",):  # a user copies the image once, before the window
        if subprocess.run(["docker", "-H", host_b, "image", "inspect", image], capture_output=True).returncode != 0:
            save = subprocess.Popen(["docker", "-H", host_a, "save", image], stdout=subprocess.PIPE)
            subprocess.run(["docker", "-H", host_b, "load"], stdin=save.stdout, check=True, capture_output=True)
            save.wait()
    writer = Writer(url_a, url_b)
    writer.start()
    time.sleep(1)
    docker(host_a, "stop", "byhand-a")
    docker(host_b, "volume", "create", "byhand_data")
    tar = subprocess.Popen(["docker", "-H", host_a, "run", "--rm", "-v", "byhand_data:/d", "lab/web:1", "tar", "-C", "/d", "-cf", "-", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "-H", host_b, "run", "--rm", "-i", "-v", "byhand_data:/d", "lab/web:1", "tar", "-C", "/d", "-xf", "-"], stdin=tar.stdout, check=True, capture_output=True)
    tar.wait()
    docker(host_b, "run", "-d", "--name", "byhand-b", "-p", f"127.0.0.1:{pb}:8080", "-v", "byhand_data:/data", "lab/web:1")
    writer.join(120)
    for host, name in ((host_a, "byhand-a"), (host_b, "byhand-b")):
        docker(host, "rm", "-f", name)
        docker(host, "volume", "rm", "byhand_data")
    return writer.window


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env_file = Path(os.environ.get("LAB_RUN", "/tmp/portable-lab")) / "env.json"
    lab = json.loads(env_file.read_text()) if env_file.is_file() else {}
    host_a = lab.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    host_b = lab.get("LAB_DOCKER_B_HOST")
    if not host_b:
        print("engine B is not up: bash tests/lab/lab up docker_b", file=sys.stderr)
        return 2
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(args.rounds):  # alternating, so load on the shared machine hits both alike
        with tempfile.TemporaryDirectory() as tmp:
            ours.append(run_portable(host_a, host_b, args.mb, Path(tmp)))
        theirs.append(run_by_hand(host_a, host_b, args.mb))
    mine, peer = statistics.median(ours), statistics.median(theirs)
    print(f"volume: {args.mb} MB of random data; writer: GET /cgi-bin/count back to back; median of {args.rounds} alternating rounds")
    print(f"portable migrate --quiesce     write-unavailable window: {mine:6.2f}s (two-pass checksummed copy, health-gated start; rounds {_list(ours)})")
    print(f"by hand (stop, tar | tar, run) write-unavailable window: {peer:6.2f}s (no checksums, no health gate; rounds {_list(theirs)})")
    print(f"ratio portable / by hand: {mine / peer:.2f}x (issue 19's target: <= 0.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
