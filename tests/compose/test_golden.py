"""Golden files: for every compose fixture, the manifest `portable import` writes, its
warnings, and what each target renders from the compose file read directly.

A diff here is a change users see. Regenerate on purpose with UPDATE_GOLDEN=1 and review
the diff. Renders a target refuses are asserted with the target's own sentence.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from portable import api
from portable.compose.emit import manifest_text
from portable.compose.manifest import compose_conversion
from portable.errors import PortableError

from compose_support import EXPECTED_RENDER_ERRORS, FILES, FIXTURES, GOLDEN, TARGETS, TARGETS_FILE, clean_env, fixture_names

# rendered files checked per target (vSphere's clone specs embed the whole user data)
CHECKED_SUFFIXES = (".yaml", ".json")
SKIPPED = ("user-data", ".meta-data.json", ".vendor-data.sh")
GUESTINFO = re.compile(r'("guestinfo\.[a-z.]+": )"[^"]*"')


def _compare(golden: Path, text: str) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}: run with UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{golden.relative_to(GOLDEN)} differs (UPDATE_GOLDEN=1 to accept a wanted change)"


@pytest.mark.parametrize("name", fixture_names())
def test_import_matches_golden(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES / name)
    files = [Path(f) for f in FILES.get(name, ["compose.yaml"])]
    conv = compose_conversion(files, clean_env(), manifest_dir=Path("."))
    _compare(GOLDEN / name / "portable.yaml", manifest_text(conv))
    _compare(GOLDEN / name / "warnings.txt", "".join(f"{w}\n" for w in conv.warnings))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", fixture_names())
def test_render_matches_golden(name: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES / name)
    files = [*FILES.get(name, ["compose.yaml"]), os.path.relpath(TARGETS_FILE)]
    expected_error = EXPECTED_RENDER_ERRORS.get((name, target))
    if expected_error:
        with pytest.raises(PortableError) as caught:
            api.render(tuple(files), target, tmp_path, env=clean_env())
        assert expected_error in str(caught.value)
        return
    paths = api.render(tuple(files), target, tmp_path, env=clean_env())
    checked = [p for p in paths if p.suffix in CHECKED_SUFFIXES and not any(s in p.as_posix() for s in SKIPPED)]
    assert checked, f"{target} rendered nothing to check: {paths}"
    for p in checked:
        text = GUESTINFO.sub(r'\1"<user data: golden-tested with the VM runtime>"', p.read_text().replace(str(FIXTURES), "<fixtures>"))
        _compare(GOLDEN / name / target / p.relative_to(tmp_path).as_posix(), text)
