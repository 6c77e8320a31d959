"""How the CLI talks to people: errors with exit codes, progress lines, tables and JSON.

Rich is imported only when something is printed, to keep `portable --help` fast.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


@contextmanager
def progress(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A progress sink: a live spinner line on a terminal, timestamped plain lines otherwise."""
    if not enabled:
        yield lambda message: None
        return
    start = time.monotonic()
    if sys.stderr.isatty():
        from rich.console import Console

        console = Console(stderr=True)
        with console.status("working...") as status:

            def tty(message: str) -> None:
                console.print(f"[dim]{time.monotonic() - start:6.1f}s[/dim] {message}", highlight=False)
                status.update(message)

            yield tty
        return

    def plain(message: str) -> None:
        click.echo(f"{time.monotonic() - start:6.1f}s {message}", err=True)

    yield plain


def table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table (works the same on a terminal and in a pipe)."""
    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
