"""Validates a command's JSON output against its schema in docs/schemas (the documented shape).

`SCHEMA_OF` says which schema documents each command's `-o json` output (docs/json.md lists the
same); tests/unit/test_json_coverage.py fails when a command of the CLI has neither a schema
here nor a reason in `EXEMPT`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "docs" / "schemas"
MANIFEST_SCHEMA = REPO / "manifests" / "schema" / "portable-v1.schema.json"  # `config` and `import` print a manifest

# command (as typed after `portable`) -> the schema of its `-o json` output
SCHEMA_OF = {
    "backup": "backup", "check": "check", "config": "config", "deploy": "revision", "destroy": "revision", "exec": "exec",
    "explain": "explain", "gc": "gc", "history": "history", "import": "import", "init": "init", "logs": "logs",
    "migrate": "migrate", "open": "open", "plan": "plan", "promote": "promote", "render": "render", "restart": "revision",
    "restore": "restore", "rollback": "revision", "scale": "revision", "status": "status", "targets": "targets", "validate": "validate",
    "state list": "state-list", "state show": "state-show", "state lock": "state-lock", "state unlock": "state-lock",
    "state migrate": "state-migrate",
}
# where `-o` already names a file or directory, JSON is asked for with --format json
FORMAT_OPTION = {"import": "format", "render": "format"}
# commands without JSON output, and why
EXEMPT = {
    "completion": "prints a shell script for bash/zsh/fish to source; there is no record to describe",
}
# schemas of outputs beside the commands' own: schema -> what prints it
ALSO = {"error": "any command's error with -o json, on stderr", "migrate-preview": "migrate --dry-run -o json"}


def _registry() -> Registry:
    resources = []
    for path in [*SCHEMAS.glob("*.schema.json"), MANIFEST_SCHEMA]:
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


def validate(name: str, document: Any) -> Any:
    """Raises jsonschema.ValidationError unless `document` matches docs/schemas/<name>.schema.json."""
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema, registry=_registry()).validate(document)
    return document


def validate_lines(name: str, text: str) -> list[Any]:
    """JSON Lines (`logs -o json`): every non-empty line one object matching the schema."""
    return [validate(name, json.loads(line)) for line in text.splitlines() if line.strip()]
