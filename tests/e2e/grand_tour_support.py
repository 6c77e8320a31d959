"""The grand tour's parts (issue 14, item 7): one PostgreSQL app, every target, the real CLI.

`Tour` holds the app (a manifest naming all six targets), the CLI it is driven through, the
rows written so far and the hop timings. Each place the database lives has a `psql` runner
and a way to read the volume's files (`Where`), so the test reads as the walk itself.

What "the data is the same" means here, per hop: the source's volume as the quiesce left it
(PostgreSQL stopped cleanly: read from the volume the retire keeps, or, for vSphere, in the
guest right after the database was stopped there) has exactly the per-file SHA-256 that
the hop's final archive index records, and the destination's volume has them too, except
the few files PostgreSQL itself rewrites when it starts (STARTUP_FILES). The rows are read
back with psql on every hop: all rows of all earlier hops, then this hop's.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "providers" / "vm"))
sys.path.insert(0, str(REPO / "tests" / "providers" / "libcloud"))

PG_IMAGE = "127.0.0.1:5000/lab/postgres:15"  # the VM bootstrap pulls: the lab registry's copy
PGDATA = "/var/lib/postgresql/data"
GUEST_VOLUME = "/var/lib/portable/volumes/data"
GUEST_IMAGE = "portable-test/tour-guest:1"
# the vSphere guest: a Debian VM with PostgreSQL (lab/postgres:15's rootfs: GNU tar, sha256sum,
# gzip for vcsim's guest file transfer and the restore), an init that stops when told to
GUEST_DOCKERFILE = """FROM lab/postgres:15
RUN mkdir -p /tmp /var/lib/portable && chmod 1777 /tmp
ENTRYPOINT []
CMD ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
"""
# files PostgreSQL writes when it starts, before any client writes: the pid file, its
# command line, the control file (state "in production") and the statistics it reads and drops
STARTUP_FILES = ("postmaster.pid", "postmaster.opts", "global/pg_control")
STARTUP_PREFIXES = ("pg_stat/", "pg_stat_tmp/")
ROWS_PER_HOP = 40


def out(argv: list[str], *, input: bytes | None = None, timeout: float = 120) -> str:
    done = subprocess.run(argv, input=input, capture_output=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:6])} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-800:]}")
    return done.stdout.decode()


def tar_files(raw: bytes) -> dict[str, bytes]:
    """A tar stream's regular files (portable's own markers left out), by path relative to the volume."""
    files = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for m in tar.getmembers():
            name = m.name
            while name.startswith("./"):
                name = name[2:]
            if m.isfile() and not Path(name).name.startswith(".portable"):
                data = tar.extractfile(m)
                assert data is not None
                files[name] = data.read()
    return files


def sums(files: dict[str, bytes]) -> dict[str, str]:
    return {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}


def dir_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".portable")}


def dir_checksums(root: Path) -> dict[str, str]:
    return sums(dir_files(root))


def docker_volume_files(docker_host: str, volume: str) -> dict[str, bytes]:
    return tar_files(subprocess.run(["docker", "-H", docker_host, "run", "--rm", "-v", f"{volume}:/v:ro", "lab/busybox:1", "/bin/busybox", "tar", "-C", "/v", "-cf", "-", "."],
                                    capture_output=True, check=True, timeout=120).stdout)


def container_files(docker_host: str, container: str, root: str) -> dict[str, bytes]:
    return tar_files(subprocess.run(["docker", "-H", docker_host, "exec", container, "tar", "-C", root, "-cf", "-", "."],
                                    capture_output=True, check=True, timeout=120).stdout)


def container_checksums(docker_host: str, container: str, root: str) -> dict[str, str]:
    return sums(container_files(docker_host, container, root))


def appended_only(before: bytes, after: bytes) -> bool:
    """`after` is `before` with bytes written only where `before` was still zero past its end:
    a WAL segment PostgreSQL went on appending to (a running-transactions record, ...)."""
    end = len(before.rstrip(b"\0"))
    return len(after) == len(before) and after[:end] == before[:end]


def changed_beyond_startup(exported: dict[str, str], source: dict[str, bytes], live: dict[str, bytes]) -> list[str]:
    """Paths where the destination's volume, PostgreSQL running on it, differs from the export
    beyond what a starting server writes: STARTUP_FILES, and WAL appended after the exported
    end (the source's bytes, equal to the export, kept intact up to their last record)."""
    def startup(path: str) -> bool:
        return path in STARTUP_FILES or path.startswith(STARTUP_PREFIXES) or path.endswith("pg_internal.init")

    def appended(path: str) -> bool:
        return (path.startswith("pg_wal/") and path in source and path in live and sums({path: source[path]})[path] == exported.get(path)
                and appended_only(source[path], live[path]))

    now = sums(live)
    return sorted(p for p in set(exported) | set(now) if exported.get(p) != now.get(p) and not startup(p) and not appended(p))


@dataclass
class Hop:
    """One migration of the tour, as measured here."""

    source: str
    destination: str
    seconds: float  # the `portable migrate` command(s), start to exit
    window_s: float  # writes unavailable: from the writer's stop to the destination answering psql
    portable_window_s: float | None  # what `portable migrate` itself printed (quiesce to healthy)
    note: str = ""


@dataclass
class Migration:
    """A `portable migrate` run, its output lines with the time each arrived."""

    argv: list[str]
    env: dict[str, str]
    started: float = 0.0
    ended: float = 0.0
    returncode: int | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    _reader: threading.Thread | None = None

    def start(self) -> "Migration":
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait(self, timeout: float = 600) -> "Migration":
        assert self.proc is not None and self._reader is not None
        self.returncode = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=30)
        self.ended = time.monotonic()
        return self

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.wait(timeout=60)

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def first(self, needle: str) -> float | None:
        return next((t for t, line in self.lines if needle in line), None)

    def portable_window(self) -> float | None:
        for _, line in self.lines:
            if line.startswith("writes were unavailable for "):
                return float(line.split()[4].rstrip("s"))
        return None


@dataclass
class Tour:
    dir: Path
    app: str
    env: dict[str, str]
    rows: list[tuple[int, str]] = field(default_factory=list)  # (id, hop) written so far
    hops: list[Hop] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return self.dir / "portable.yaml"

    @property
    def state(self) -> Path:
        return self.dir / "state.db"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "portable.cli.main", *args, "-f", str(self.manifest), "--state", str(self.state)]

    def cli(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), env={**self.env, **(extra_env or {})}, capture_output=True, text=True, timeout=timeout)

    def migration(self, source: str, destination: str, *, quiesce: bool = True, blob_store: str | None = None, extra_env: dict[str, str] | None = None) -> Migration:
        args = ["migrate", "--from", source, "--to", destination, "--yes"]
        if quiesce:
            args.append("--quiesce")
        if blob_store:
            args += ["--blob-store", blob_store]
        return Migration(self.argv(*args), {**self.env, **(extra_env or {})})

    def journal(self, source: str, destination: str) -> dict[str, Any]:
        path = self.dir / ".portable" / "migrations" / f"{self.app}.{source}-to-{destination}.json"
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    # ------------------------------------------------------------ rows
    def write_rows(self, psql: Callable[[str], str], hop: str) -> None:
        """ROWS_PER_HOP rows tagged with the hop, through psql where the database now runs."""
        first = len(self.rows) + 1
        last = first + ROWS_PER_HOP - 1
        psql("CREATE TABLE IF NOT EXISTS tour (id int PRIMARY KEY, hop text NOT NULL, payload text NOT NULL)")
        psql(f"INSERT INTO tour SELECT g, '{hop}', md5(g::text || '{hop}') FROM generate_series({first}, {last}) g")
        self.rows += [(i, hop) for i in range(first, last + 1)]
        self.check_rows(psql)

    def check_rows(self, psql: Callable[[str], str]) -> None:
        """Every row written along the way, and nothing else, as PostgreSQL answers."""
        got = psql("SELECT id || ':' || hop || ':' || payload FROM tour ORDER BY id").split()
        expected = [f"{i}:{hop}:{hashlib.md5(f'{i}{hop}'.encode()).hexdigest()}" for i, hop in self.rows]
        assert got == expected, f"PostgreSQL holds {len(got)} rows, {len(expected)} were written; first difference at " \
                                f"{next((k for k, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), min(len(got), len(expected)))}"


def psql_in(docker_host: str, container: str, *, user: str | None = None, socket_dir: str | None = None) -> Callable[[str], str]:
    def run(sql: str) -> str:
        argv = ["docker", "-H", docker_host, "exec", *(["-u", user] if user else []), container,
                "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "tour", *(["-h", socket_dir] if socket_dir else []), "-c", sql]
        return out(argv, timeout=60)
    return run


def psql_in_pod(kubeconfig: str, namespace: str, pod: str, container: str) -> Callable[[str], str]:
    def run(sql: str) -> str:
        return out(["kubectl", "--kubeconfig", kubeconfig, "-n", namespace, "exec", pod, "-c", container, "--",
                    "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "tour", "-c", sql], timeout=60)
    return run


def wait_answering(psql: Callable[[str], str], timeout: float = 120) -> float:
    """Polls until PostgreSQL answers a query; the moment it did (time.monotonic)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psql("SELECT 1")
            return time.monotonic()
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"PostgreSQL did not answer within {timeout}s: {exc}") from exc
            time.sleep(0.2)


def build_guest_image() -> str:
    import tempfile

    if subprocess.run(["docker", "image", "inspect", GUEST_IMAGE], capture_output=True, timeout=30).returncode == 0:
        return GUEST_IMAGE
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_text(GUEST_DOCKERFILE)
        subprocess.run(["docker", "build", "-q", "-t", GUEST_IMAGE, ctx], check=True, capture_output=True, timeout=300, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return GUEST_IMAGE


def final_index(tour: Tour, source: str, destination: str, s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """Per-file SHA-256 the hop's last archive records: the volume as exported at the quiesce."""
    from portable.data.archive_keys import ArchiveKeys
    from portable.state import open_store

    journal = tour.journal(source, destination)
    last = journal["archives"][-1]
    sealed = s3.get_object(Bucket=bucket, Key=f"{prefix}/{last['key']}")["Body"].read()
    assert sealed.startswith(b"PORTABLE-SEALED")  # sealed at rest with the app's key
    stored = tour.dir / f"{source}-{destination}.sealed"
    stored.write_bytes(sealed)
    keys = ArchiveKeys(None, tour.app, lambda: open_store(str(tour.state)).app_key(tour.app))
    with keys.plaintext(stored, tour.dir / "opened", expect_sealed=True) as plain:
        body = plain.read_bytes()
    assert hashlib.sha256(body).hexdigest() == last["sha256"]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        member = tar.extractfile(".portable-index.json")
        assert member is not None
        index = json.loads(member.read())
    files = {e["path"].removeprefix("./"): e["sha256"] for e in index["files"] if "sha256" in e and not Path(e["path"]).name.startswith(".portable")}
    assert "PG_VERSION" in files and any(p.startswith("base/") for p in files), f"not a PostgreSQL data directory: {sorted(files)[:10]}"
    return files


TIMINGS: list[Hop] = []


class TimingsReport:
    """Prints the hop table in pytest's terminal summary, whatever -s says."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if TIMINGS:
            terminalreporter.section("grand tour: hop timings")
            for line in timings_table(TIMINGS).splitlines():
                terminalreporter.write_line(line)


def timings_table(hops: list[Hop]) -> str:
    rows = [f"{'hop':<24} {'migrate (s)':>11} {'write-unavailable (s)':>22} {'portable says (s)':>18}  note"]
    for h in hops:
        said = f"{h.portable_window_s:.1f}" if h.portable_window_s is not None else "-"
        rows.append(f"{h.source + ' -> ' + h.destination:<24} {h.seconds:>11.1f} {h.window_s:>22.1f} {said:>18}  {h.note}")
    rows.append(f"{'total':<24} {sum(h.seconds for h in hops):>11.1f} {sum(h.window_s for h in hops):>22.1f}")
    return "\n".join(rows)
