"""Progress users can follow (issue 20 item 5), on the lab's Docker engine, through the CLI.

On a pseudo-terminal `deploy --yes` and `destroy --yes` draw a live table of services: its
last frame shows every service with its replicas ready / desired at N/N (0/0 once
destroyed) and its final state. With stdout and stderr redirected to one pipe the same
commands print plain timestamped lines, no terminal codes, and the plan comes before the
apply's progress (it used to come after: the plan was printed once the apply had finished).
A migration between the lab's two engines on a terminal shows the service on both targets
(ready on b, deleted on a) and the volume's copy, read and written, in bytes with a rate.
"""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_support import ensure_images, force_remove_app

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(300)]

APP = "progress-docker"
MANIFEST = f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  web:
    image: lab/web:1
    replicas: 2
    stop_grace_period: 1s
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s, timeout: 2s, retries: 10}}
  side:
    image: lab/web:1
    stop_grace_period: 1s
    volumes: [{{volume: data, path: /data}}]
volumes:
  data: {{}}
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TIMESTAMPED = re.compile(r"^ +\d+\.\d+s \S")


def _user_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A person's terminal: no CI, a real TERM, a known width, no forced progress mode."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PORTABLE_PROGRESS", "NO_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40", **(extra or {}))
    return env


def run_on_terminal(argv: list[str], timeout: float = 120, extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    """Runs argv with stdin, stdout and stderr on a new pseudo-terminal; returns (exit code, output)."""
    env = _user_env(extra_env)
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once (nothing of pytest's state is used)
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        else:
            os.kill(pid, 9)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def _screen_lines(output: str) -> list[str]:
    return ANSI.sub("", output).replace("\r\n", "\n").replace("\r", "\n").split("\n")


def last_transfers(output: str) -> dict[str, str]:
    """The transfer rows of the last frame: what -> the rest of its row (bytes, rate, state)."""
    lines = _screen_lines(output)
    start = max(i for i, line in enumerate(lines) if line.split()[:2] == ["TRANSFER", "BYTES"])
    rows: dict[str, str] = {}
    for line in lines[start + 1:]:
        m = re.match(r"^(volume \S+ (?:<-|->) \S+(?: \(\w+\))?) +(.*\S)", line)
        if not m:
            break
        rows[m.group(1)] = m.group(2)
    return rows


def last_frame(output: str) -> dict[str, list[str]]:
    """The table as it was left on the screen: service -> [READY, STATE, STEP..., ELAPSED]."""
    lines = _screen_lines(output)
    start = max(i for i, line in enumerate(lines) if line.split()[:2] == ["SERVICE", "READY"])
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1:]:
        m = re.match(r"^(\S+(?: on \S+)?) +(\d+/\d+|-) +(.*)$", line)
        if not m:
            break
        rows[m.group(1)] = [m.group(2), *m.group(3).split()]
    return rows


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[Path]:
    ensure_images()
    force_remove_app(APP)
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    yield manifest
    subprocess.run(["portable", "destroy", "-f", str(manifest), "--state", str(tmp_path / "state.db"), "--yes", "--quiet", "--volumes"],
                   capture_output=True, timeout=120)
    force_remove_app(APP)


def test_on_a_terminal_deploy_and_destroy_draw_a_table_of_services(app: Path) -> None:
    state = str(app.parent / "state.db")
    code, out = run_on_terminal(["portable", "deploy", "-f", str(app), "--state", state, "--yes"])
    assert code == 0, out
    rows = last_frame(out)
    assert rows["web"][:2] == ["2/2", "ready"], rows  # every replica healthy, at the end
    assert rows["side"][:2] == ["1/1", "ready"], rows
    assert rows["(shared)"][1] == "ready", rows  # the network and the volume
    assert re.fullmatch(r"\d+\.\ds", rows["web"][-1]), rows  # elapsed
    text = ANSI.sub("", out)
    assert text.index("+ container/web-1") < text.index("SERVICE"), "the plan is shown before the table"
    assert "web       0/2" in text or re.search(r"web +0/2", text), "the table was drawn while replicas were starting"
    assert f"{APP} on local: revision 1 deployed." in text
    assert "container/web-1 ready" not in text.split("SERVICE")[0], "service steps are rows of the table, not lines"
    running = subprocess.run(["docker", "ps", "-q", "--filter", f"label=io.portable.app={APP}"], capture_output=True, text=True, check=True)
    assert len(running.stdout.split()) == 3

    code, out = run_on_terminal(["portable", "destroy", "-f", str(app), "--state", state, "--yes"])
    assert code == 0, out
    rows = last_frame(out)
    assert rows["web"][:2] == ["0/0", "deleted"], rows
    assert rows["side"][:2] == ["0/0", "deleted"], rows
    assert f"{APP} on local: destroyed." in ANSI.sub("", out)
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.portable.app={APP}"], capture_output=True, text=True, check=True)
    assert left.stdout.split() == []


def _one_pipe(*args: str) -> list[str]:
    """Runs portable with stdout and stderr into one pipe, as `portable ... > log 2>&1` does."""
    done = subprocess.run(["portable", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_user_env(), timeout=120)
    assert done.returncode == 0, done.stdout
    assert not ANSI.search(done.stdout), "no terminal codes in a pipe"
    return done.stdout.splitlines()


def test_redirected_deploy_and_destroy_print_the_plan_then_plain_ordered_lines(app: Path) -> None:
    state = str(app.parent / "state.db")
    lines = _one_pipe("deploy", "-f", str(app), "--state", state, "--yes")
    plan_at = lines.index("  + container/web-1  (not present on the target)")
    progress = [i for i, line in enumerate(lines) if TIMESTAMPED.match(line)]
    assert progress and plan_at < progress[0], "\n".join(lines)  # the plan first, then the apply
    assert lines[progress[0]].split("s ", 1)[1].startswith("revision 1: Plan: 5 to create")
    for key in ("container/web-1", "container/web-2", "container/side-1"):  # the lines plain mode always printed
        started = next(i for i in progress if lines[i].endswith(f"creating {key}"))
        ready = next(i for i in progress if lines[i].endswith(f"{key} ready"))
        assert started < ready
    assert lines[-1] == f"{APP} on local: revision 1 deployed." and progress[-1] < len(lines) - 1
    assert sum(line.startswith("  + ") for line in lines) == 5, "the plan is printed once"
    stamps = [float(lines[i].split("s ", 1)[0]) for i in progress]
    assert stamps == sorted(stamps), "lines come in the order they happened"

    lines = _one_pipe("destroy", "-f", str(app), "--state", state, "--yes")
    plan_at = lines.index("  - container/web-1  (no longer in the manifest)")
    progress = [i for i, line in enumerate(lines) if TIMESTAMPED.match(line)]
    assert progress and plan_at < progress[0], "\n".join(lines)
    assert any(lines[i].endswith("container/web-2 deleted") for i in progress)
    assert lines[-1] == f"{APP} on local: destroyed."


MIGRATED = f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}-move}}
services:
  kv:
    image: lab/web:1
    stop_grace_period: 1s
    volumes: [{{volume: data, path: /data}}]
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s, timeout: 2s, retries: 10}}
volumes:
  data: {{}}
targets:
  a: {{provider: docker, host: "${{HOST_A}}"}}
  b: {{provider: docker, host: "${{HOST_B}}"}}
"""


def _remove_moved(host: str) -> None:
    label = f"label=io.portable.app={APP}-move"
    ids = subprocess.run(["docker", "-H", host, "ps", "-aq", "--filter", label], capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "-H", host, "rm", "-f", *ids], capture_output=True)
    for kind in ("network", "volume"):
        names = subprocess.run(["docker", "-H", host, kind, "ls", "-q", "--filter", label], capture_output=True, text=True).stdout.split()
        if names:
            subprocess.run(["docker", "-H", host, kind, "rm", *names], capture_output=True)


@pytest.mark.lab("docker", "docker_b")
def test_on_a_terminal_migrate_shows_both_targets_and_the_volume_copy_in_bytes(tmp_path: Path, docker_host: str, docker_b_host: str) -> None:
    ensure_images()
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MIGRATED)
    hosts = {"HOST_A": docker_host, "HOST_B": docker_b_host}
    common = ["-f", str(manifest), "--state", str(tmp_path / "state.db")]
    for host in (docker_host, docker_b_host):
        _remove_moved(host)
    try:
        deployed = subprocess.run(["portable", "deploy", *common, "-t", "a", "--yes", "--quiet"], capture_output=True, text=True, env=_user_env(hosts), timeout=120)
        assert deployed.returncode == 0, deployed.stderr
        wrote = subprocess.run(["portable", "exec", "kv", "-f", str(manifest), "-t", "a", "--", "sh", "-c", "head -c 5000000 /dev/urandom > /data/blob"],
                               capture_output=True, text=True, env=_user_env(hosts), timeout=60)
        assert wrote.returncode == 0, wrote.stderr
        code, out = run_on_terminal(["portable", "migrate", *common, "--from", "a", "--to", "b", "--blob-store", str(tmp_path / "blobs"), "--yes"], extra_env=hosts)
        assert code == 0, out
        rows = last_frame(out)
        assert rows["kv on b"][:2] == ["1/1", "ready"], rows  # deployed on the destination
        assert rows["kv on a"][:2] == ["0/0", "deleted"], rows  # retired on the source
        moved = last_transfers(out)
        read, written = moved["volume data <- a (full)"], moved["volume data -> b"]
        assert re.match(r"^5\.0 MB / 5\.0 MB +\d+\.\d [kMG]B/s +done$", read), moved  # the 5 MB file and its headers
        assert re.match(r"^5\.0 MB / 5\.0 MB +\d+\.\d [kMG]B/s +done$", written), moved
        assert f"{APP}-move now runs on b." in ANSI.sub("", out)
        size = subprocess.run(["docker", "-H", docker_b_host, "exec", f"{APP}-move-kv-1", "wc", "-c", "/data/blob"], capture_output=True, text=True, timeout=30)
        assert size.stdout.split()[0] == "5000000", size.stdout + size.stderr  # the data arrived
    finally:
        for host in (docker_host, docker_b_host):
            _remove_moved(host)
