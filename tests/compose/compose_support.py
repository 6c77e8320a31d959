"""Shared pieces of the compose tests: where the fixtures are, the environment they are
rendered with, and `portable` run as a user runs it (a subprocess, real exit codes)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
TARGETS_FILE = HERE / "targets.compose.yaml"
LAB_ENV = FIXTURES / "lab.env"
REPO = HERE.parents[1]
TARGETS = ("local", "kubernetes", "aws", "libcloud", "vsphere")

# the fixture's main file, and any more -f files it is used with
FILES: dict[str, list[str]] = {"multi-file": ["compose.yaml", "compose.override.yaml"]}

# variables the fixtures read from the environment (secrets' values never reach a render)
ENV = {"STRIPE_API_KEY": "sk_test_not_real", "GRAFANA_ADMIN_PASSWORD": "not-real", "KC_ADMIN_PASSWORD": "not-real"}

# what a target refuses, said by the target itself: a real limit of that target, not of the import
EXPECTED_RENDER_ERRORS: dict[tuple[str, str], str] = {
    **{("build-targets", t): "services.app.build: VM targets pull images; they cannot build on the instance" for t in ("aws", "libcloud", "vsphere")},
    **{("nextcloud-extends", t): "services.cron.volumes[0]: volume `nextcloud` is already mounted by service `app`" for t in ("aws", "libcloud", "vsphere")},
    ("ports-syntax", "local"): "services.dns.ports[1]: host port 53 is already published by services.dns.ports[0]",
}


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "compose.yaml").is_file())


def fixture_files(name: str) -> list[Path]:
    return [FIXTURES / name / f for f in FILES.get(name, ["compose.yaml"])]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment without anything that would change a fixture's meaning."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "PORTABLE_")) and k not in _FIXTURE_VARS}
    env.update(ENV)
    env.update(extra or {})
    return env


def _fixture_vars() -> set[str]:
    import re

    names: set[str] = set()
    for f in FIXTURES.rglob("*.y*ml"):
        names.update(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", f.read_text()))
    for line in LAB_ENV.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            names.add(line.split("=", 1)[0])
    return names


_FIXTURE_VARS = _fixture_vars()


def portable(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs the CLI as a user would; returns the finished process (text output)."""
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args], cwd=cwd or REPO, env=env or clean_env(), capture_output=True, text=True, timeout=timeout)
