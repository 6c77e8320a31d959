"""What the importer says about each compose key it did not carry exactly, and where.

A `Finding` renders as one line, `FILE:LINE:COL: services.web.init: not carried (why)`;
`--strict` fails on any finding that is not a mere note. `Conversion` collects them with
the origin (compose position) of every manifest field, which `--explain` and validation
errors use to point back into the compose file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portable.compose.keys import APPROXIMATED, IGNORED, NOT_CARRIED, rule
from portable.compose.located import LDict, LList, Loc
from portable.compose.project import ComposeProject

NOTE = "note"


@dataclass(frozen=True)
class Finding:
    loc: Loc
    path: str
    fate: str  # not carried | approximated | note
    text: str

    def render(self) -> str:
        return f"{self.loc}: {self.path}: {self.fate} ({self.text})"

    @property
    def fails_strict(self) -> bool:
        return self.fate in (NOT_CARRIED, APPROXIMATED)


def generic(path: str) -> str:
    """`services.web.ports[0].host_ip` -> `services.*.ports[].host_ip` (a table key)."""
    parts = path.split(".")
    if len(parts) >= 2 and parts[0] in ("services", "volumes", "secrets", "configs", "networks"):
        parts[1] = "*"
    if len(parts) >= 4 and parts[0] == "services" and parts[2] == "depends_on":
        parts[3] = "*"
    return re.sub(r"\[\d+\]", "[]", ".".join(parts))


@dataclass
class Conversion:
    """A compose project as portable manifest data, with what was lost and where it came from."""

    project: ComposeProject
    manifest_dir: Path
    data: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    origins: dict[str, Loc] = field(default_factory=dict)  # manifest path -> compose position
    comments: dict[str, str] = field(default_factory=dict)  # manifest path -> why it is approximated
    volume_names: dict[str, str | None] = field(default_factory=dict)  # portable volume -> compose volume (None: anonymous)
    secret_names: dict[str, str] = field(default_factory=dict)  # compose secret -> portable secret, for carried ones
    config_contents: dict[str, str] = field(default_factory=dict)  # compose config -> its content, for carried ones
    secret_specs: dict[str, dict[str, str]] = field(default_factory=dict)  # compose secret -> portable secret spec

    def volume_names_add(self, name: str, source: str | None) -> str:
        """Registers portable volume `name` (from compose volume `source`) and returns it."""
        self.volume_names.setdefault(name, source)
        return name

    def drop(self, loc: Loc, path: str, text: str | None = None) -> None:
        """Warns that the compose key at `path` is not carried (the table says why, unless `text`)."""
        self.findings.append(Finding(loc, path, NOT_CARRIED, text or rule(generic(path)).note))

    def approx(self, loc: Loc, path: str, text: str, manifest_path: str | None = None) -> None:
        self.findings.append(Finding(loc, path, APPROXIMATED, text))
        if manifest_path:
            self.comments[manifest_path] = text

    def note(self, loc: Loc, path: str, text: str) -> None:
        self.findings.append(Finding(loc, path, NOTE, text))

    def origin(self, manifest_path: str, loc: Loc) -> None:
        self.origins.setdefault(manifest_path, loc)

    def drop_rest(self, mapping: LDict, path: str, handled: set[str]) -> None:
        """Every key of `mapping` not in `handled` is warned (extension keys are noted)."""
        for key in mapping:
            if key in handled:
                continue
            sub = f"{path}.{key}"
            if key.startswith("x-"):
                continue  # ignored, as compose ignores extension fields
            r = rule(generic(sub))
            if r.fate == IGNORED:
                self.note(mapping.key_at(key), sub, r.note)
            else:
                self.drop(mapping.key_at(key), sub)

    def strict_failures(self) -> list[Finding]:
        return [f for f in self.findings if f.fails_strict]

    @property
    def warnings(self) -> list[str]:
        return [f.render() for f in self.findings]


def key_of(container: Any, key: str | int) -> Loc:
    if isinstance(container, LDict) and isinstance(key, str):
        return container.key_at(key)
    if isinstance(container, LList) and isinstance(key, int):
        return container.at(key)
    return getattr(container, "loc", Loc("<unknown>", 0, 0))
