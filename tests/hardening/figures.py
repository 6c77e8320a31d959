"""The hardening figures: what the crash, fault, drift and fuzz tests tried and what came of it.

Issue 17 asks for one table per target (crash points tried, reruns converged, orphans found,
duplicate creates, fault profile runs, drift cases detected, the fuzz count). Each test adds its
counts here as it goes with `record(...)`; tests/hardening/conftest.py prints the table at the
end of the run and writes it as JSON, so the README's table can be regenerated from a `--full` run
rather than typed in.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

#: Column name -> heading, in the order the table shows them. "want 0" columns are failures.
COLUMNS: dict[str, str] = {
    "crash_points_tried": "crash points tried",
    "reruns_converged": "reruns converged",
    "orphans_found": "orphans found (want 0)",
    "duplicate_creates": "duplicate creates (want 0)",
    "fault_runs": "fault profile runs",
    "fault_runs_succeeded": "fault runs as expected",
    "drift_cases": "drift cases",
    "drift_detected": "drift detected",
    "gc_cases": "gc cases",
    "gc_correct": "gc correct",
    "fuzz_examples": "fuzz examples",
    "hostile_files": "hostile files refused",
}

_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


def record(target: str, **counts: int) -> None:
    """Add `counts` (column=number) to `target`'s row; unknown columns are a bug in the caller."""
    for column, n in counts.items():
        if column not in COLUMNS:
            raise KeyError(f"unknown hardening figure {column!r}; known: {', '.join(COLUMNS)}")
        _counts[target][column] += int(n)


def table() -> list[str]:
    """The figures as a Markdown table (one row per target), or [] when nothing was recorded."""
    if not _counts:
        return []
    used = [c for c in COLUMNS if any(c in row for row in _counts.values())]
    lines = ["| target | " + " | ".join(COLUMNS[c] for c in used) + " |", "|---" * (len(used) + 1) + "|"]
    for target in sorted(_counts):
        row = _counts[target]
        lines.append(f"| {target} | " + " | ".join(str(row.get(c, 0)) for c in used) + " |")
    return lines


def save(path: Path) -> None:
    """Write the raw counts as JSON (for the README's table and for comparing runs)."""
    path.write_text(json.dumps({t: dict(r) for t, r in sorted(_counts.items())}, indent=2) + "\n")


def output_path() -> Path:
    """Where the JSON goes: $PORTABLE_HARDENING_FIGURES, else the lab's run directory or /tmp."""
    explicit = os.environ.get("PORTABLE_HARDENING_FIGURES")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("LAB_RUN", "/tmp")) / "hardening-figures.json"
