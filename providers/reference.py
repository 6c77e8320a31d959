"""Writes docs/targets.md, the target-settings reference, from the providers' settings models.

The reference is generated so it cannot drift from what the loader accepts (a hand-written
table once named `service_type` and `size`, which the models reject); a test fails when the
checked-in file is stale. Regenerate with:

    python -m portable.providers.reference > docs/targets.md
"""
from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel

from portable.providers.registry import REGISTRY, settings_model

HEADER = """# Target settings

Generated from each provider's settings model by `python -m portable.providers.reference`
(a test fails when this file is stale). A target is declared under `targets:` with its
`provider` and these settings; unknown settings are refused with file:line:column.

```yaml
targets:
  staging: {provider: kubernetes, context: staging, namespace: shop}
```
"""


def _type_of(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """A short, readable type for one JSON Schema property."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _type_of(defs.get(name, {}), defs) if "enum" in defs.get(name, {}) else name
    if "enum" in schema:
        return " \\| ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [_type_of(s, defs) for s in schema[key] if s.get("type") != "null"]
            return " \\| ".join(dict.fromkeys(parts)) or "null"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(schema.get('items', {}), defs)}"
    if kind == "object":
        extra = schema.get("additionalProperties")
        return f"map of {_type_of(extra, defs)}" if isinstance(extra, dict) else "mapping"
    return str(kind)


def _default(schema: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in schema or schema["default"] is None:
        return ""
    return f"`{json.dumps(schema['default'])}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def model_section(provider: str, model: type[BaseModel]) -> str:
    schema = model.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    lines = [f"## `{provider}`", "", _cell(model.__doc__ or ""), "", "| setting | type | default | what it does |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        lines.append(f"| `{name}` | {_type_of(prop, defs)} | {_default(prop, name in required)} | {_cell(prop.get('description', ''))} |")
    for name, sub in sorted(defs.items()):
        if "properties" not in sub:
            continue
        lines += ["", f"`{name}` (used above):", "", "| field | type | default | what it does |", "|---|---|---|---|"]
        sub_required = set(sub.get("required", []))
        for field_name, prop in sub["properties"].items():
            lines.append(f"| `{field_name}` | {_type_of(prop, defs)} | {_default(prop, field_name in sub_required)} | {_cell(prop.get('description', ''))} |")
    return "\n".join(lines) + "\n"


def reference() -> str:
    """The whole docs/targets.md text."""
    sections = [model_section(name, settings_model(name)) for name in REGISTRY]
    return HEADER + "\n" + "\n".join(sections)


if __name__ == "__main__":
    sys.stdout.write(reference())
