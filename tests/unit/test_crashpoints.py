"""PORTABLE_CRASHPOINT (tests only): the process dies by SIGKILL exactly at the named point's
N-th hit, an unknown name is refused rather than never firing, and every crash point the
product calls is in the registry the hardening suite iterates over."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from portable.engine import crashpoints
from portable.engine.crashpoints import CRASHPOINTS, MIGRATION_STEPS, crashpoint, parse

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
from portable.engine.crashpoints import crashpoint
for i in range(1, 4):
    crashpoint("state.after-begin")
    print("passed", i, flush=True)
"""


def _run(spec: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    if spec is not None:
        env["PORTABLE_CRASHPOINT"] = spec
    return subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, timeout=60)


def test_the_named_point_sigkills_the_process_at_its_nth_hit() -> None:
    assert _run(None).stdout.split("\n")[:3] == ["passed 1", "passed 2", "passed 3"]
    first = _run("state.after-begin")
    assert first.returncode == -signal.SIGKILL and first.stdout == ""
    third = _run("state.after-begin:3")
    assert third.returncode == -signal.SIGKILL and third.stdout.splitlines() == ["passed 1", "passed 2"]
    other = _run("state.before-finish")
    assert other.returncode == 0 and len(other.stdout.splitlines()) == 3


def test_an_unknown_or_malformed_point_is_refused_not_silently_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown crash point 'apply.after-craete'"):
        parse("apply.after-craete")
    with pytest.raises(ValueError, match="1 or more"):
        parse("apply.after-create:0")
    assert parse("apply.after-create:4") == ("apply.after-create", 4)
    monkeypatch.setenv("PORTABLE_CRASHPOINT", "no.such-point")
    with pytest.raises(ValueError):
        crashpoint("apply.after-create")
    with pytest.raises(ValueError, match="not in CRASHPOINTS"):
        crashpoint("apply.after-frobnicate")


def test_every_crashpoint_the_product_calls_is_registered() -> None:
    calls = set()
    for path in [*(ROOT / "portable").rglob("*.py"), *(ROOT / "providers").rglob("*.py")]:  # portable.providers lives in providers/
        if path.name == "crashpoints.py":
            continue
        for m in re.finditer(r'crashpoint\((f?)"([^"]+)"\)', path.read_text()):
            calls.add((m.group(1), m.group(2)))
    literal = {name for f, name in calls if not f}
    templates = {name for f, name in calls if f}
    assert literal <= set(CRASHPOINTS), literal - set(CRASHPOINTS)
    assert templates == {"apply.after-{action.op}", "migrate.after-{name}"}, templates
    assert literal == set(crashpoints.STATE) | set(crashpoints.VM)  # each store writes all of STATE
    assert {f"migrate.after-{s}" for s in MIGRATION_STEPS} <= set(CRASHPOINTS)
