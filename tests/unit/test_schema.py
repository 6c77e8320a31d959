"""The checked-in JSON Schema matches the model, and validates the examples."""
from __future__ import annotations

import json

import jsonschema
import yaml

from portable.manifest.schema import SCHEMA_FILE, schema_text

def test_checked_in_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "stale: run `python -m portable.manifest.schema`"


def test_schema_accepts_valid_and_rejects_unknown_fields() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    # examples carry ${VAR} placeholders in typed fields (ports), so a plain manifest is checked
    plain = yaml.safe_load("apiVersion: portable/v1\nkind: Application\nmetadata: {name: a}\nservices:\n  web:\n    image: x\n    replicas: 2\n    ports: [{port: 80, expose: public}]\n")
    jsonschema.validate(plain, schema)
    bad = dict(plain, services={"web": {"image": "x", "replcas": 2}})
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as exc:
        assert "replcas" in exc.message
    else:
        raise AssertionError("schema accepted an unknown field")
