"""The manifest's JSON Schema, generated from the model and checked in for editors.

`python -m portable.manifest.schema` rewrites manifests/schema/portable-v1.schema.json; a
test fails when the checked-in file is stale.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from portable.manifest.model import Manifest

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "manifests" / "schema" / "portable-v1.schema.json"


def manifest_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://portable.dev/schema/portable-v1.schema.json"
    schema["title"] = "portable application manifest (portable/v1)"
    return schema


def schema_text() -> str:
    return json.dumps(manifest_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(schema_text())
    print(out)


if __name__ == "__main__":
    main()
