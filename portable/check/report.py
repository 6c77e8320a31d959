"""Findings as text, JSON, or SARIF 2.1.0 (what code-scanning dashboards read)."""
from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from portable.check.checks import CHECKS
from portable.check.findings import Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def text_report(findings: list[Finding], app: str, target: str, threshold: str) -> str:
    """One block per finding, then a count line that says what fails at `threshold`."""
    from portable.check.run import failing

    lines = [f.render() for f in findings]
    failed = len(failing(findings, threshold))
    waived = sum(1 for f in findings if f.waived)
    counts = ", ".join(f"{sum(1 for f in findings if f.severity == s and not f.waived)} {s}" for s in ("error", "warning", "note"))
    summary = f"{app} on {target}: {len(findings)} finding{'s' if len(findings) != 1 else ''} ({counts}, {waived} waived)"
    summary += f"; {failed} at or above --fail-on {threshold}" if failed else f"; none at or above --fail-on {threshold}"
    return "\n".join([*lines, summary])


def json_report(findings: list[Finding], app: str, target: str, threshold: str) -> str:
    from portable.check.run import failing

    return json.dumps({
        "app": app, "target": target, "fail_on": threshold, "failed": len(failing(findings, threshold)),
        "findings": [f.as_dict() for f in findings],
    }, indent=2)


def _uri(file: str | None) -> str:
    if not file:
        return "portable.yaml"
    path = Path(file)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def _tool_version() -> str:
    try:
        return version("portable")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
        return "0"


def sarif_report(findings: list[Finding]) -> str:
    """A SARIF 2.1.0 log with one run: every check as a rule, waived findings suppressed."""
    ids = list(CHECKS)
    rules = [
        {
            "id": c.id,
            "name": "".join(w.capitalize() for w in c.id.split("-")),
            "shortDescription": {"text": c.title},
            "defaultConfiguration": {"level": c.severity},
            "helpUri": "https://portable.dev/docs/security.html#" + c.id,
        }
        for c in CHECKS.values()
    ]
    results: list[dict[str, Any]] = []
    for f in findings:
        region: dict[str, int] = {"startLine": f.line or 1}
        if f.column:
            region["startColumn"] = f.column
        result: dict[str, Any] = {
            "ruleId": f.check,
            "ruleIndex": ids.index(f.check),
            "level": f.severity,
            "message": {"text": f"{f.path}: {f.message}. Fix: {f.fix}"},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": _uri(f.file)}, "region": region},
                "logicalLocations": [{"fullyQualifiedName": f.path, "kind": "member"}],
            }],
        }
        if f.waived:
            result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.waived}]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "portable check", "version": _tool_version(), "informationUri": "https://portable.dev/docs/security.html", "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2)
