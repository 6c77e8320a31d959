"""The policy file: severities per check and waivers, each waiver with its reason.

```yaml
severities: {runs-as-root: error, writable-root: off}
waive:
  - {check: capabilities-added, service: db, reason: "the entrypoint chowns PGDATA, then drops to postgres"}
```

Read with the manifest's own loader machinery, so a mistake is reported at file:line:column
with exit 2 like any other bad input. `portable check --policy FILE` names one; `plan`,
`deploy` and `migrate` read $PORTABLE_POLICY, else `portable-policy.yaml` beside the manifest.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from portable.errors import ManifestError, Problem
from portable.manifest.interpolate import environment_for
from portable.manifest.loader import _Builder, _problems_from
from portable.manifest.reading import compose_bounded, read_manifest_text

POLICY_FILE = "portable-policy.yaml"
Severity = Literal["error", "warning", "note", "off"]


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str = Field(description="the check's id, e.g. runs-as-root")
    service: str = Field("*", description="the service it applies to (* for every service and the target settings)")
    reason: str = Field(min_length=1, description="why the finding is accepted: shown with it, and in SARIF")

    @field_validator("reason")
    @classmethod
    def _said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a waiver needs a reason (why this finding is accepted)")
        return value

    def covers(self, check: str, service: str | None) -> bool:
        return self.check == check and (self.service == "*" or self.service == service)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severities: dict[str, Severity] = Field(default_factory=dict)
    waive: list[Waiver] = Field(default_factory=list)
    path: str | None = Field(None, exclude=True)

    @field_validator("severities")
    @classmethod
    def _known_checks(cls, value: dict[str, str]) -> dict[str, str]:
        from portable.check.checks import CHECKS

        unknown = [k for k in value if k not in CHECKS]
        if unknown:
            raise ValueError(f"no check named {unknown[0]!r}; the checks: {', '.join(CHECKS)}")
        return value

    def waiver(self, check: str, service: str | None) -> Waiver | None:
        return next((w for w in self.waive if w.covers(check, service)), None)


def load_policy(path: str | Path, env: Mapping[str, str] | None = None) -> Policy:
    """The policy at `path`, validated; errors at file:line:column (exit 2)."""
    from portable.check.checks import CHECKS

    file = Path(path)
    text = read_manifest_text(file)
    name = str(file)
    node = compose_bounded(text, name)
    if node is None:
        return Policy(path=name)
    builder = _Builder(name, environment_for(file, env))
    data = builder.build(node)
    if builder.problems:
        raise ManifestError(builder.problems)
    if not isinstance(data, dict):
        raise ManifestError([Problem("", "a policy is a mapping with `severities:` and `waive:`", name, 1, 1)])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_problems_from(exc, data, builder.positions, name)) from None
    problems = []
    for i, w in enumerate(policy.waive):
        if w.check not in CHECKS:
            line, col = builder.positions.at(("waive", i, "check"))
            problems.append(Problem(f"waive[{i}].check", f"no check named {w.check!r}; the checks: {', '.join(CHECKS)}", name, line, col))
    if problems:
        raise ManifestError(problems)
    return policy.model_copy(update={"path": name})


def policy_for(manifest_path: Path, env: Mapping[str, str] | None = None) -> Policy:
    """The policy `plan`/`deploy` apply: $PORTABLE_POLICY, else portable-policy.yaml beside
    the manifest, else none (the default severities)."""
    environ = os.environ if env is None else env
    named = environ.get("PORTABLE_POLICY")
    if named:
        return load_policy(named, env)
    beside = manifest_path.resolve().parent / POLICY_FILE
    if beside.is_file():
        return load_policy(beside, env)
    return Policy()
