"""A finding of `portable check` and the severity scale findings are compared on."""
from __future__ import annotations

from dataclasses import dataclass

# most to least severe; `off` (policy only) drops a check entirely
SEVERITIES = ("error", "warning", "note")


def at_or_above(severity: str, threshold: str) -> bool:
    """Whether `severity` is as bad as `threshold` or worse (error > warning > note)."""
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)


@dataclass(frozen=True)
class Finding:
    """One check failing for one service (or for a target setting), located in the manifest."""

    check: str
    severity: str
    service: str | None
    path: str  # field path, e.g. services.web.security.privileged
    message: str  # what is wrong and why it matters
    fix: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    waived: str | None = None  # the policy's reason, when waived

    def where(self) -> str:
        if not self.file:
            return ""
        return f"{self.file}:{self.line or 1}:{self.column or 1}"

    def render(self) -> str:
        """`FILE:L:C: severity[check] path: message` then the fix (and the waiver's reason)."""
        where = self.where()
        head = f"{where + ': ' if where else ''}{self.severity}[{self.check}] {self.path}: {self.message}"
        tail = f"\n  fix: {self.fix}"
        if self.waived:
            tail += f"\n  waived: {self.waived}"
        return head + tail

    def as_dict(self) -> dict[str, object]:
        return {
            "check": self.check, "severity": self.severity, "service": self.service, "path": self.path,
            "file": self.file, "line": self.line, "column": self.column, "message": self.message,
            "fix": self.fix, "waived": self.waived,
        }
