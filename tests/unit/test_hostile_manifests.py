"""Hostile input: each file of the corpus (tests/unit/hostile/, plus huge ones written at
test time) and each odd path given to -f gets exit 2 and one sentence from `portable
validate`, within 2 s and 200 MB of memory, measured on the CLI process itself.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostile.generate import FILES, write_huge

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hardening"))
from figures import record  # noqa: E402  (the hardening figures table: issue 17, item 5)

CLI = "from portable.cli.main import main; main()"
CORPUS = sorted(FILES.glob("*.yaml"))
MAX_SECONDS = 2.0
MAX_RSS_MB = 200.0
FIGURES: dict[str, float] = {"files": 0, "slowest_s": 0.0, "largest_rss_mb": 0.0}


@dataclass
class Run:
    code: int
    stderr: str
    seconds: float
    cpu_s: float
    rss_mb: float


# Linux keeps the pre-exec high-water mark in ru_maxrss: a child forked straight from this
# (large, late in a full run) pytest process reports pytest's own size. The CLI is therefore
# started by a small launcher, and the launcher reports its child's peak on its stdout.
LAUNCHER = (
    "import os, resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def validate(path: str, **popen: object) -> Run:
    """`portable validate -f path` in a child process, with its own time and peak RSS."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as peak:
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-c", LAUNCHER, sys.executable, "-c", CLI, "validate", "-f", path], stdout=peak, stderr=err, **popen)  # type: ignore[call-overload]
        deadline = started + 30
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", errors="replace")
        peak.seek(0)
        reported = peak.read().decode().strip()
    # the launcher's report; when it was killed at the deadline, its own (upper-bound) figure
    rss_mb = (int(reported) if reported.isdigit() else usage.ru_maxrss) / 1024  # KiB on Linux
    FIGURES["files"] += 1
    FIGURES["slowest_s"] = max(FIGURES["slowest_s"], seconds)
    FIGURES["largest_rss_mb"] = max(FIGURES["largest_rss_mb"], rss_mb)
    cpu_s = usage.ru_utime + usage.ru_stime  # the launcher's and, waited for, the CLI's
    return Run(child.returncode, text, seconds, cpu_s, rss_mb)


def assert_refused_in_one_sentence(run: Run, where: str) -> None:
    assert run.code == 2, f"{where}: exit {run.code}\n{run.stderr}"
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{where}: not one sentence:\n{run.stderr[:2000]}"
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    assert len(lines[0]) < 600, f"{where}: a {len(lines[0])}-character message"
    # CPU, not wall time: on a machine shared with other suites the wall clock measures the
    # neighbours (a hang still fails: the child is killed at 30 s and its CPU counted)
    assert run.cpu_s < MAX_SECONDS, f"{where}: used {run.cpu_s:.2f}s of CPU ({run.seconds:.2f}s wall)"
    assert run.rss_mb < MAX_RSS_MB, f"{where}: peak RSS {run.rss_mb:.0f} MB"


def test_corpus_holds_every_class() -> None:
    assert len(CORPUS) >= 100
    for prefix in ("alias_bomb", "alias_recursive", "nesting", "tag_python", "number", "encoding", "control", "binary", "structure"):
        assert any(p.name.startswith(prefix) for p in CORPUS), prefix


@pytest.mark.parametrize("manifest", CORPUS, ids=lambda p: p.stem)
def test_hostile_file_is_refused_in_one_sentence(manifest: Path) -> None:
    run = validate(str(manifest))
    assert_refused_in_one_sentence(run, manifest.name)
    assert str(manifest) in run.stderr  # the file is named


@pytest.fixture(scope="module")
def huge_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_huge(tmp_path_factory.mktemp("huge"))


HUGE = ["huge_50mb_comments", "huge_50mb_unknown_keys", "huge_limit_plus_one_byte", "huge_9mb_comments_then_error", "huge_9mb_unknown_keys",
        "huge_150k_list_items", "huge_million_nesting", "huge_line_1mb", "huge_one_9mb_value", "huge_binary_8mb"]


@pytest.mark.parametrize("name", HUGE)
def test_huge_file_is_refused_in_bounded_time_and_memory(name: str, huge_files: list[Path]) -> None:
    [manifest] = [p for p in huge_files if p.stem == name]
    run = validate(str(manifest))
    assert_refused_in_one_sentence(run, name)
    if manifest.stat().st_size > 10 * 1024 * 1024:
        assert "10 MiB" in run.stderr, run.stderr  # the limit is in the message


@pytest.mark.parametrize("case", ["directory", "fifo", "dev_zero", "dev_null", "dangling_symlink", "symlink_loop", "through_a_file", "name_too_long", "unreadable"])
def test_odd_path_given_to_f_is_refused_in_one_sentence(case: str, tmp_path: Path) -> None:
    target = tmp_path / "portable.yaml"
    if case == "directory":
        target.mkdir()
    elif case == "fifo":
        os.mkfifo(target)  # reading would block forever
    elif case == "dev_zero":
        target = Path("/dev/zero")  # reading would never end
    elif case == "dev_null":
        target = Path("/dev/null")
    elif case == "dangling_symlink":
        target.symlink_to(tmp_path / "gone.yaml")
    elif case == "symlink_loop":
        target.symlink_to(tmp_path / "other.yaml")
        (tmp_path / "other.yaml").symlink_to(target)
    elif case == "through_a_file":
        (tmp_path / "file").write_text("x")
        target = tmp_path / "file" / "portable.yaml"
    elif case == "name_too_long":
        target = tmp_path / ("n" * 300 + ".yaml")
    elif case == "unreadable":
        target.write_text("apiVersion: portable/v1\n")
        target.chmod(0o000)
        if os.geteuid() == 0:  # root reads any file: /proc/self/mem is a regular file whose read fails
            target = Path("/proc/self/mem")
    run = validate(str(target))
    assert_refused_in_one_sentence(run, case)


def test_figures() -> None:
    """Printed for the README's table (runs last in this file)."""
    print(f"\nhostile input: {int(FIGURES['files'])} CLI runs, slowest {FIGURES['slowest_s']:.2f}s, largest peak RSS {FIGURES['largest_rss_mb']:.0f} MB")
    assert FIGURES["files"] >= 100
    record("bad input (validate)", hostile_files=int(FIGURES["files"]))
