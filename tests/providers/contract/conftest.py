"""Fixtures of the provider contract suite: `ct`, one lab target per provider (parametrized
over every entry of contract_targets.TARGETS), and `apps`, the suite's apps on it."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contract_app import Apps  # noqa: E402
from contract_targets import TARGETS, ContractTarget  # noqa: E402


@pytest.fixture(params=sorted(TARGETS), ids=sorted(TARGETS))
def ct(request: pytest.FixtureRequest, lab: Any, tmp_path: Path) -> Iterator[ContractTarget]:
    """The provider's target on the lab; its components are required (CI=true: fail if down)."""
    cls = TARGETS[request.param]
    env = lab.require(*cls.components)
    target = cls(env, tmp_path)
    apps: list[str] = []
    request.node.contract_apps = apps  # filled by the `apps` fixture, for close()
    yield target
    target.close(apps)


@pytest.fixture
def apps(ct: ContractTarget, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Apps]:
    """Makes apps with fresh names on `ct`; destroys each (volumes too) afterwards."""
    made = Apps(ct, tmp_path / "apps")
    yield made
    made.destroy_all()
    request.node.contract_apps.extend(a.name for a in made.made)
