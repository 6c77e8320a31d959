"""Reading a manifest file and composing its YAML within fixed bounds.

A manifest comes from users, generators and sometimes attackers, so reading one must cost
bounded time and memory whatever the bytes are: the file size is capped before it is read,
the text must be UTF-8, and one pass over the parser's events (libyaml's when installed)
refuses deep nesting, too many nodes and alias expansion ("billion laughs") before any
Python object is built. Every refusal is one sentence with the file and, where there is
one, its line and column.
"""
from __future__ import annotations

import stat
from pathlib import Path

import yaml

from portable.errors import InputError, ManifestError, Problem

MAX_BYTES = 10 * 1024 * 1024  # a real manifest is a few KiB; config file contents included
MAX_DEPTH = 64  # the deepest real path is about 8 levels (overrides.T.services.S.health.exec.command)
MAX_VALUES = 150_000  # YAML nodes, counting every alias as the nodes it stands for: 5,000
# services of about 20 values each (issue 19: linear to 5,000); `portable validate` of 147,000
# values: 160 MB peak RSS, 2.4 s of CPU on the lab machine

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~70x faster on big input


def read_manifest_text(file: Path) -> str:
    """The text of `file`: a regular, readable UTF-8 file of at most MAX_BYTES."""
    try:
        info = file.stat()
    except FileNotFoundError:
        raise InputError(f"{file}: no such manifest file (create one with `portable init` or pass -f FILE)") from None
    except OSError as exc:
        raise InputError(f"{file}: cannot read the manifest: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{file}: is a directory, not a manifest file (pass the manifest itself: -f DIR/portable.yaml)")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{file}: is not a regular file (a device, pipe or socket cannot be a manifest)")
    if info.st_size > MAX_BYTES:
        raise InputError(f"{file}: the file is {info.st_size / 1024 / 1024:.1f} MiB; a manifest is limited to {_mib(MAX_BYTES)}")
    try:
        with file.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise InputError(f"{file}: cannot read the manifest: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise InputError(f"{file}: the file is larger than {_mib(MAX_BYTES)}, the limit for a manifest")
    return decode_utf8(data, str(file))


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB ({n} bytes)"


def decode_utf8(data: bytes, name: str) -> str:
    """`data` as text; a UTF-8 byte order mark is dropped, any other encoding is refused."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        raise ManifestError([Problem("", f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded); save it as UTF-8", name, line, col)]) from None


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of byte `offset` in `data`."""
    before = data[:offset]
    line_start = before.rfind(b"\n") + 1
    return before.count(b"\n") + 1, len(before[line_start:].decode("utf-8", errors="replace")) + 1


def compose_bounded(text: str, name: str) -> yaml.Node | None:
    """The single document of `text` as a node tree, refused when it exceeds the bounds."""
    try:
        _check_events(text, name)
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        hint = None
        lines = text.splitlines()
        if line is not None and lines and "${" in lines[min(line, len(lines)) - 1]:
            hint = 'inside { } or [ ], quote a value that uses ${...}: published: "${PORT}"'
        raise ManifestError([Problem("", f"invalid YAML: {exc.problem or exc.context}", name, line, col, hint)]) from None
    except yaml.reader.ReaderError as exc:
        # libyaml counts in bytes of the UTF-8 text, PyYAML in characters
        data = text.encode("utf-8")
        offset = exc.position if _Loader is not yaml.SafeLoader else len(text[: exc.position].encode("utf-8"))
        line, col = _line_col(data, offset)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise ManifestError([Problem("", f"invalid YAML: character U+{ord(char):04X} is not allowed in a YAML file (control characters must be escaped inside double quotes)", name, line, col)]) from None
    except yaml.YAMLError as exc:  # any other parser complaint still names the file
        raise ManifestError([Problem("", f"invalid YAML: {exc}".splitlines()[0], name, 1, 1)]) from None


def _check_events(text: str, name: str) -> None:
    """One pass over the parser's events: depth, node count and alias expansion are bounded."""
    depth = 0
    expanded = 0  # nodes, with every alias counted as the size of what it names
    open_anchors: list[tuple[str | None, int]] = []  # (anchor, `expanded` when it opened)
    sizes: dict[str, int] = {}
    used_alias = False
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            anchor = event.anchor
            if any(a == anchor for a, _ in open_anchors):
                _refuse(name, event, f"the alias *{anchor} refers to a node that contains it (a recursive YAML structure)")
            expanded += sizes.get(anchor, 1) if anchor is not None else 1
            used_alias = True
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                _refuse(name, event, f"the YAML is nested deeper than {MAX_DEPTH} levels, the limit for a manifest")
            expanded += 1
            open_anchors.append((event.anchor, expanded - 1))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            anchor, start = open_anchors.pop()
            if anchor is not None:
                sizes[anchor] = expanded - start
        elif isinstance(event, yaml.ScalarEvent):
            expanded += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        if expanded > MAX_VALUES:
            why = "through its aliases (a YAML alias bomb?)" if used_alias else ""
            _refuse(name, event, f"the YAML expands to more than {MAX_VALUES} values{' ' + why if why else ''}, the limit for a manifest")


def _refuse(name: str, event: yaml.Event, message: str) -> None:
    mark = event.start_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    raise ManifestError([Problem("", message, name, line, column)])
