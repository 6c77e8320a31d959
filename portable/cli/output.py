"""How the CLI talks to people: errors with exit codes, progress lines, tables and JSON.

Rich is imported only when something is printed, to keep `portable --help` fast.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click


def emit_json(data: Any) -> None:
    import json  # not at the top: `--help` never needs it

    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def fail(message: str, code: int, *, as_json: bool | None = None, error: BaseException | None = None) -> NoReturn:
    """Prints the error (as one JSON object on stderr with `as_json`, see `error_document`) and exits.

    `as_json` left out: JSON when the running command was given `-o json` (or `--format json`)."""
    if as_json is None:
        ctx = click.get_current_context(silent=True)
        as_json = ctx is not None and "json" in (ctx.params.get("output"), ctx.params.get("format"))
    if as_json:
        import json

        click.echo(json.dumps(error_document(message, code, error), sort_keys=True), err=True)
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def error_document(message: str, code: int, error: BaseException | None = None) -> dict[str, Any]:
    """`{"error", "kind", "file", "line", "column", "path", "hint", "exit", "problems"}` for `-o json`
    (docs/schemas/error.schema.json): a located manifest problem fills file/line/path from the
    first problem and lists them all under `problems`; other errors leave them null."""
    from portable.errors import ManifestError, PortableError

    problems = list(error.problems) if isinstance(error, ManifestError) else []
    first = problems[0] if problems else None
    text = error.message if isinstance(error, PortableError) else message
    return {
        "error": first.message if first is not None else text,
        "kind": type(error).__name__ if error is not None else "Error",
        "file": first.file if first else None,
        "line": first.line if first else None,
        "column": first.column if first else None,
        "path": first.path if first else None,
        "hint": (first.hint if first else None) or (error.hint if isinstance(error, PortableError) else None),
        "exit": code,
        "problems": [{"file": p.file, "line": p.line, "column": p.column, "path": p.path, "error": p.message, "hint": p.hint} for p in problems],
    }


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


@contextmanager
def progress(enabled: bool = True, *, on_plan: Callable[[Any], None] | None = None) -> Iterator[Callable[[str], None]]:
    """A progress sink: a live table of services on a terminal, timestamped plain lines
    otherwise (portable/cli/live_table.py; `portable --progress` or PORTABLE_PROGRESS choose).
    `on_plan(plan)` runs when the engine is about to apply a plan, before its progress lines."""
    if not enabled:
        yield lambda message: None
        return
    from portable.cli.live_table import LiveTableSink, choose_mode, make_sink

    ctx = click.get_current_context(silent=True)
    requested = ctx.find_root().params.get("progress_mode") if ctx is not None else None
    json_output = ctx is not None and ctx.params.get("output") == "json"
    sink = make_sink(choose_mode(requested, json_output=json_output), on_plan)
    if isinstance(sink, LiveTableSink):
        with sink:
            yield sink
        return
    yield sink


def table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table (works the same on a terminal and in a pipe)."""
    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
