"""Hardening suite fixtures: `full` (the whole crash/fault matrix or CI's sample) and the figures table."""
from __future__ import annotations

from typing import Any

import pytest
from figures import output_path, save, table


@pytest.fixture(scope="session")
def full(request: pytest.FixtureRequest) -> bool:
    """True with `--full` (every crash point of every target); CI runs a sample per target."""
    return bool(request.config.getoption("--full"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = table()
    if not lines:
        return
    terminalreporter.section("hardening figures")
    for line in lines:
        terminalreporter.line(line)
    path = output_path()
    try:
        save(path)
        terminalreporter.line(f"(raw counts: {path})")
    except OSError as exc:
        terminalreporter.line(f"(could not write {path}: {exc})")
