"""Running the checks on an app: severities from the policy, waivers applied, positions given.

`enforce` is what planning calls before anything is created: an error-severity finding
that no waiver covers stops plan, deploy and migrate with exit 2, nothing changed.
"""
from __future__ import annotations

from portable.check.checks import CHECKS
from portable.check.findings import Finding, at_or_above
from portable.check.policy import Policy
from portable.errors import InputError, Problem
from portable.manifest.app import App
from portable.manifest.loader import LoadedManifest


def check_app(loaded: LoadedManifest, app: App, policy: Policy | None = None) -> list[Finding]:
    """Every finding for `app` (bound to its target), located in the manifest, in check order."""
    policy = policy or Policy()
    out: list[Finding] = []
    for check in CHECKS.values():
        severity = policy.severities.get(check.id, check.severity)
        if severity == "off":
            continue
        for hit in check.run(app):
            located = _locate(loaded, app.target_name, hit.path)
            waiver = policy.waiver(check.id, hit.service)
            out.append(Finding(
                check=check.id, severity=severity, service=hit.service, path=located.path,
                message=hit.message, fix=hit.fix, file=located.file, line=located.line, column=located.column,
                waived=waiver.reason if waiver else None,
            ))
    return out


def failing(findings: list[Finding], threshold: str) -> list[Finding]:
    """The findings that fail at `threshold`: not waived, at or above it."""
    return [f for f in findings if f.waived is None and at_or_above(f.severity, threshold)]


def _locate(loaded: LoadedManifest, target: str, path: str) -> Problem:
    """Where `path` is written: in `overrides.<target>` when the override wrote that field, but
    a finding about a whole service (a field it lacks) stays at the service's own key even
    when an override touches other fields of it."""
    if path.count(".") == 1 and path.startswith("services."):
        line, column = loaded.positions.at(tuple(path.split(".")), key=True)
        return Problem(path, "", str(loaded.path), line, column)
    return loaded.locate(target, [Problem(path, "")])[0]


class PolicyRefusal(InputError):
    """An error-severity finding no waiver covers: exit 2, nothing is changed."""


def enforce(loaded: LoadedManifest, app: App, policy: Policy) -> None:
    """Raises PolicyRefusal listing every unwaived error finding (planning calls it first)."""
    errors = failing(check_app(loaded, app, policy), "error")
    if errors:
        lines = "\n".join(f.render() for f in errors)
        raise PolicyRefusal(
            f"refused by `portable check` ({len(errors)} error finding{'s' if len(errors) != 1 else ''}):\n{lines}",
            hint="fix them, or waive each in the policy with a reason: waive: [{check: ID, service: NAME, reason: ...}] (portable-policy.yaml beside the manifest, or $PORTABLE_POLICY)",
        )
