"""The migration journal: which steps of a migration are done, so a crash can resume.

One JSON file per (app, source, destination) under `.portable/migrations/`, written
atomically after every step. A finished migration's journal is kept as a record.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Journal:
    path: Path
    app: str
    source: str
    destination: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: str = field(default_factory=_now)
    status: str = "running"  # running | done | failed | aborted
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    archives: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, directory: Path, app: str, source: str, destination: str, *, fresh: bool = False) -> "Journal":
        """The unfinished journal for this move, or a new one."""
        path = directory / f"{app}.{source}-to-{destination}.json"
        if path.is_file() and not fresh:
            data = json.loads(path.read_text())
            if data.get("status") == "running":
                return cls(path=path, **{k: v for k, v in data.items() if k != "path"})
        return cls(path=path, app=app, source=source, destination=destination)

    def done(self, step: str) -> bool:
        return self.steps.get(step, {}).get("status") == "done"

    def output(self, step: str) -> dict[str, Any]:
        return dict(self.steps.get(step, {}).get("output", {}))

    def mark(self, step: str, status: str, output: dict[str, Any] | None = None, error: str | None = None) -> None:
        entry = self.steps.setdefault(step, {})
        entry["status"] = status
        entry.setdefault("started", _now())
        if status in ("done", "failed", "skipped"):
            entry["finished"] = _now()
        if output is not None:
            entry["output"] = output
        if error is not None:
            entry["error"] = error
        self.save()

    def finish(self, status: str) -> None:
        self.status = status
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in self.__dict__.items() if k != "path"}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)
