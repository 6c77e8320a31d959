"""Every command of the CLI speaks JSON: each has `-o json` (`--format json` where `-o` names a
file) and a schema under docs/schemas that some test validates a real output against, or a
reason in json_schemas.EXEMPT; docs/json.md lists them all. A command added without JSON fails here.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from json_schemas import ALSO, EXEMPT, FORMAT_OPTION, SCHEMA_OF, SCHEMAS
from jsonschema import Draft202012Validator

from portable.cli.main import cli

TESTS = Path(__file__).resolve().parents[1]
DOC = SCHEMAS.parent / "json.md"


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found.update(_commands(command, f"{path} "))
        else:
            found[path] = command
    return found


COMMANDS = _commands(cli)


def test_every_command_has_a_schema_or_a_stated_reason_not_to() -> None:
    missing = sorted(set(COMMANDS) - set(SCHEMA_OF) - set(EXEMPT))
    assert not missing, f"commands without a JSON schema (add one under docs/schemas and to json_schemas.SCHEMA_OF, or a reason to EXEMPT): {missing}"
    stale = sorted((set(SCHEMA_OF) | set(EXEMPT)) - set(COMMANDS))
    assert not stale, f"json_schemas names commands the CLI does not have: {stale}"
    assert not set(SCHEMA_OF) & set(EXEMPT)


@pytest.mark.parametrize("path", sorted(SCHEMA_OF))
def test_the_command_takes_o_json(path: str) -> None:
    name = FORMAT_OPTION.get(path, "output")
    option = next((p for p in COMMANDS[path].params if p.name == name), None)
    assert isinstance(option, click.Option), f"portable {path} has no --{name} option"
    assert isinstance(option.type, click.Choice) and "json" in option.type.choices, f"portable {path} --{name} does not offer json"
    if name == "output":
        assert "-o" in option.opts, f"portable {path}: -o is not the output format"
    else:  # -o is taken by a path there (import's file, render's directory)
        assert any(p.name in ("output", "outdir") and "-o" in getattr(p, "opts", []) for p in COMMANDS[path].params)


def _schema_files() -> set[str]:
    return {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")}


def test_every_schema_is_valid_used_and_validated_against_a_real_output_by_some_test() -> None:
    for name in _schema_files():
        schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
        Draft202012Validator.check_schema(schema)  # a valid JSON Schema 2020-12 ...
        assert schema["$id"] == f"https://portable.dev/schemas/{name}.schema.json"  # ... that $refs resolve by
    documented = set(SCHEMA_OF.values()) | set(ALSO)
    assert _schema_files() == documented, f"schemas no command prints, or commands whose schema is missing: {_schema_files() ^ documented}"
    sources = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py"))
    used = set(re.findall(r"\b(?:validate|validate_lines|_json)\([^\"\n)]*?\"([a-z-]+)\"", sources))  # validate("status", ...), _json(cwd, "init", ...)
    assert not documented - used, f"no test validates a real output against: {sorted(documented - used)}"


def test_docs_json_md_lists_every_command_and_its_schema() -> None:
    text = DOC.read_text()
    for path, schema in SCHEMA_OF.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `portable {path}")), None)
        assert row is not None, f"docs/json.md has no row for portable {path}"
        assert f"schemas/{schema}.schema.json" in row, f"docs/json.md: portable {path} should name schemas/{schema}.schema.json"
    for path in EXEMPT:
        assert f"`portable {path}`" in text
    for schema in ALSO:
        assert f"schemas/{schema}.schema.json" in text, f"docs/json.md does not name schemas/{schema}.schema.json"
