"""The JSON Schema editors use accepts exactly the manifests the loader accepts.

Every valid manifest of the repository (examples, provider test apps, tests/unit/valid) goes
through both; so do the invalid manifests whose fault is one of shape, which both refuse.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from portable.errors import ManifestError
from portable.manifest import parse_file
from portable.manifest.schema import SCHEMA_FILE

REPO = Path(__file__).resolve().parents[2]
VALID = sorted([*REPO.glob("examples/*/portable.yaml"), *REPO.glob("tests/providers/*/app/portable.yaml"), *(REPO / "tests/unit/valid").glob("*.yaml")])
# faults of shape (unknown keys, wrong types, values out of range) a schema can see
SHAPE_FAULTS = [
    "unknown_service_field", "unknown_top_level", "port_bad_protocol", "port_bad_expose", "port_out_of_range",
    "replicas_not_int", "replicas_negative", "env_nested", "wrong_kind", "wrong_api_version", "missing_metadata",
    "env_key_empty", "env_key_with_equals", "no_services", "volume_relative_path", "secret_bad_source", "bad_app_name",
]


def _raw(path: Path) -> Any:
    """The file as an editor's YAML plugin sees it (dates stay text, as the loader keeps them)."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        return value
    return plain(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def test_there_are_valid_manifests_to_check() -> None:
    assert len(VALID) >= 5 and (REPO / "tests/unit/valid/short_forms.yaml") in VALID


@pytest.mark.parametrize("manifest", VALID, ids=lambda p: str(p.relative_to(REPO)))
def test_valid_manifest_passes_loader_and_schema(manifest: Path, validator: jsonschema.Draft202012Validator) -> None:
    parse_file(manifest, env={})  # raises when the loader refuses it
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_raw(manifest))]
    assert not errors, errors


@pytest.mark.parametrize("name", SHAPE_FAULTS)
def test_shape_fault_is_refused_by_both(name: str, validator: jsonschema.Draft202012Validator) -> None:
    manifest = REPO / "tests/unit/invalid" / f"{name}.yaml"
    with pytest.raises(ManifestError):
        parse_file(manifest, env={})
    assert list(validator.iter_errors(_raw(manifest))), f"the schema accepts {name}, which the loader refuses"


@pytest.mark.parametrize("snippet", [
    "build: ./web", "command: sh -c 'echo hi'", "env: {WORKERS: 4}", "secrets: [db-password]", 'volumes: ["data:/x:ro"]',
    "health: {exec: {command: redis-cli ping}}", "replicas: ${N:-2}", "restart: no",
])
def test_documented_short_form_is_accepted_by_the_schema(snippet: str, validator: jsonschema.Draft202012Validator) -> None:
    doc = yaml.safe_load("apiVersion: portable/v1\nkind: Application\nmetadata: {name: a}\nservices:\n  web:\n    image: x\n    " + snippet + "\n")
    errors = [e.message for e in validator.iter_errors(doc)]
    assert not errors, errors
