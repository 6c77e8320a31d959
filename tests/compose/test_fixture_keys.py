"""Never silent: every compose key in every fixture is carried into the manifest, or warned
with FILE:LINE:COL pointing at that key, as the warnings printed by `portable import` say.

The test parses the warning lines the CLI prints (not the importer's objects), checks each
one points at a line of its file that names the key, and walks every key of each fixture
to find where it went.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from portable.compose.findings import generic
from portable.compose.keys import CARRIED, APPROXIMATED, IGNORED, LOADER, NOT_CARRIED, rule
from portable.compose.located import plain
from portable.compose.project import load_project

from compose_support import FILES, FIXTURES, clean_env, fixture_names, portable

WARNING = re.compile(r"^warning: (?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<path>\S+): (?P<fate>not carried|approximated|note) \((?P<why>.+)\)$")
SUBKEYS = {"build", "healthcheck", "deploy", "depends_on"}  # service keys whose own keys are compose keys too


def _key_paths(model: dict[str, Any]) -> list[str]:
    """Every compose key path of a loaded project (values such as environment names excluded)."""
    out: list[str] = []

    def mapping_keys(value: Any, prefix: str, deep: bool) -> None:
        if not isinstance(value, dict):
            return
        for k, v in value.items():
            out.append(f"{prefix}.{k}")
            if deep and isinstance(v, dict) and k not in ("labels", "options", "args", "environment", "driver_opts"):
                mapping_keys(v, f"{prefix}.{k}", deep)

    for key, value in model.items():
        out.append(key)
        if key in ("volumes", "secrets", "configs", "networks") and isinstance(value, dict):
            for name, spec in value.items():
                mapping_keys(spec, f"{key}.{name}", deep=False)
    for name, svc in (model.get("services") or {}).items():
        base = f"services.{name}"
        for key, value in svc.items():
            out.append(f"{base}.{key}")
            if key in SUBKEYS and isinstance(value, dict):
                mapping_keys(value, f"{base}.{key}", deep=True)
            if key in ("ports", "volumes", "secrets", "configs") and isinstance(value, list):
                for i, item in enumerate(value):
                    mapping_keys(item, f"{base}.{key}[{i}]", deep=True)
    return [p for p in out if not p.split(".")[-1].startswith("x-") and not p.startswith("x-")]


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or a.startswith(b + "[") or b.startswith(a + ".") or b.startswith(a + "[")


def _field_of(into: str) -> str | None:
    parts = into.split(".")
    return parts[2].split("[")[0] if len(parts) > 2 and parts[0] == "services" else None


@pytest.mark.parametrize("name", fixture_names())
def test_every_key_is_carried_or_warned_at_its_line(name: str, tmp_path: Path) -> None:
    files = FILES.get(name, ["compose.yaml"])
    run = portable("import", *files, "-o", str(tmp_path / "portable.yaml"), cwd=FIXTURES / name, env=clean_env())
    assert run.returncode == 0, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("warning: ")]
    warnings = []
    for line in lines:
        m = WARNING.match(line)
        assert m, f"not a FILE:LINE:COL: path: fate (why) line: {line!r}"
        source = (FIXTURES / name / m["file"]).read_text().splitlines()
        at = source[int(m["line"]) - 1]
        leaf = re.sub(r"\[\d+\]$", "", m["path"].split(".")[-1])
        assert int(m["col"]) <= len(at) + 1
        if not re.search(r"\[\d+\]$", m["path"]) and m["fate"] != "note":
            assert leaf in at or "<<" in at or "*" in at, f"{line}: line {m['line']} of {m['file']} does not name `{leaf}`: {at!r}"
        warnings.append((m["path"], m["fate"]))
    manifest = yaml.safe_load((tmp_path / "portable.yaml").read_text())
    project = load_project([FIXTURES / name / f for f in files], clean_env())
    model = plain(project.model)
    services = manifest["services"]
    missing = []
    for path in _key_paths(model):
        r = rule(generic(path))
        warned = any(_related(path, w) for w, _ in warnings)
        if r.fate in (LOADER, IGNORED) or warned:
            continue
        if r.fate == NOT_CARRIED:
            missing.append(f"{path}: not carried, but no warning says so")
            continue
        assert r.fate in (CARRIED, APPROXIMATED)
        field = _field_of(r.into)
        if path.startswith("services.") and field:
            svc = re.sub(r"[^a-z0-9-]+", "-", path.split(".")[1].lower()).strip("-")
            carried_into = services.get(svc, {})
            if field not in carried_into and not (field == "env" and "env" in carried_into):
                missing.append(f"{path}: should be carried into {r.into}, which the manifest lacks, and no warning says why")
    assert not missing, "\n".join(missing)


def test_every_service_key_of_the_schema_has_a_rule() -> None:
    """The key table covers the whole compose-spec service definition, so docs/compose.md does."""
    import json

    from portable.compose.keys import BY_KEY
    from portable.compose.schema import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text())
    keys = schema["definitions"]["service"]["properties"]
    assert [k for k in keys if f"services.*.{k}" not in BY_KEY] == []
    assert [k for k in schema["properties"] if k not in BY_KEY] == []
