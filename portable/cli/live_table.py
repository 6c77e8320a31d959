"""Progress users can follow: a live table on a terminal, plain timestamped lines otherwise.

The engine reports through one callback (portable/engine/progress.py). Both sinks here are
such callbacks with an `event` method, so they receive the structure too:

- `PlainSink` prints each line as `  12.3s text` on stderr, flushed, exactly the lines
  progress always printed (byte counts and silent events print nothing);
- `LiveTableSink` (rich.live, imported only when chosen) redraws a table of services (replicas
  ready / desired, current step, elapsed) and of transfers (bytes, rate), printing the other
  lines above it, like `docker compose up` on a terminal.

Which one: `--progress auto|plain|table` on the root command or PORTABLE_PROGRESS; `auto` is
the table only when stdout and stderr are terminals, CI is not set, TERM is not `dumb` and
the command does not print JSON. A PLAN event calls `on_plan` before its line, so a command
shows the plan it applies before the apply's progress, in order, even through one pipe.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import click

from portable.engine.progress import BYTES, PLAN, ProgressEvent

MODES = ("auto", "plain", "table")
ENV_VAR = "PORTABLE_PROGRESS"
OnPlan = Callable[[Any], None]


def choose_mode(requested: str | None, *, json_output: bool = False, stdout: IO[str] | None = None, stderr: IO[str] | None = None,
                environ: dict[str, str] | None = None) -> str:
    """'table' or 'plain' for `requested` (None: PORTABLE_PROGRESS, else auto)."""
    env = os.environ if environ is None else environ
    mode = (requested or env.get(ENV_VAR) or "auto").strip().lower()
    if mode not in MODES:
        raise click.UsageError(f"{ENV_VAR}={mode!r}: expected one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    out, err = stdout or sys.stdout, stderr or sys.stderr
    terminal = _isatty(out) and _isatty(err)
    ci = env.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    dumb = env.get("TERM", "") == "dumb"
    return "table" if terminal and not ci and not dumb and not json_output else "plain"


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _elapsed(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


class PlainSink:
    """Timestamped lines on stderr (`  12.3s text`), written and flushed one by one."""

    def __init__(self, on_plan: OnPlan | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._on_plan = on_plan
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()  # lines from the apply's worker threads stay whole

    def __call__(self, message: str) -> None:
        with self._lock:
            click.echo(f"{self._clock() - self._start:6.1f}s {message}", err=True)

    def event(self, event: ProgressEvent) -> None:
        if event.kind == PLAN and self._on_plan is not None and event.plan is not None:
            with self._lock:
                sys.stderr.flush()
                self._on_plan(event.plan)
                sys.stdout.flush()
        if event.text and event.kind != BYTES:
            self(event.text)


@dataclass
class ServiceRow:
    ready: int | None = None
    desired: int | None = None
    step: str = "waiting"
    started: float | None = None
    ended: float | None = None
    done: bool = False


@dataclass
class TransferRow:
    done: int
    total: int | None
    started: float
    updated: float
    finished: bool = False

    def rate(self) -> float:
        spent = self.updated - self.started
        return self.done / spent if spent > 0 else 0.0


class ProgressBoard:
    """What the table shows, kept from events (no rich: the renderer reads it)."""

    SHARED = "(shared)"  # the app's resources that belong to no service: network, volumes, ...

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.start = clock()
        self.services: dict[tuple[str, str], ServiceRow] = {}  # (target, service): migrate shows both ends
        self.target = ""  # the target of the plan being applied (from the last PLAN event)
        self.transfers: dict[str, TransferRow] = {}
        self.stopped: str | None = None  # set when the command ended with an error or Ctrl-C

    def apply(self, event: ProgressEvent) -> None:
        now = self.clock()
        if event.kind == BYTES and event.transfer:
            moving = self.transfers.get(event.transfer)
            if moving is None or (moving.finished and not event.finished):
                moving = self.transfers[event.transfer] = TransferRow(0, event.bytes_total, now, now)
            moving.done = event.bytes_done or 0
            moving.total = event.bytes_total if event.bytes_total is not None else moving.total
            moving.updated, moving.finished = now, event.finished
            return
        if event.kind == PLAN:
            self.target = str(getattr(event.plan, "target", "") or "")
            return
        name = event.service or self.SHARED
        if event.service is None and not event.step:
            return
        row = self.services.setdefault((self.target, name), ServiceRow())
        if event.ready is not None:
            row.ready = event.ready
        if event.desired is not None:
            row.desired = event.desired
        if event.step and event.step != "waiting":
            row.step = event.step
            if row.started is None:
                row.started = now
            row.done = event.finished
            row.ended = now if event.finished else None

    def state(self, row: ServiceRow) -> str:
        if row.done:
            return "deleted" if row.desired == 0 or (row.desired is None and row.step.endswith(" deleted")) else "ready"
        if row.started is None:
            return "waiting"
        return self.stopped or "in progress"

    def rows(self) -> list[list[str]]:
        """SERVICE, READY, STATE, STEP, ELAPSED: services in name order, shared resources last."""
        now = self.clock()
        out = []
        targets = {t for t, _ in self.services}
        for target, name in sorted(self.services, key=lambda k: (k[1] == self.SHARED, k[1], k[0])):
            row = self.services[(target, name)]
            if len(targets) > 1:
                name = f"{name} on {target}"
            ready = "-" if row.desired is None else f"{row.ready if row.ready is not None else 0}/{row.desired}"
            spent = "" if row.started is None else _elapsed((row.ended or now) - row.started)
            out.append([name, ready, self.state(row), row.step, spent])
        return out

    def transfer_rows(self) -> list[list[str]]:
        """TRANSFER, BYTES, RATE, STATE."""
        out = []
        for name, t in self.transfers.items():
            amount = human_bytes(t.done) + (f" / {human_bytes(t.total)}" if t.total else "")
            out.append([name, amount, f"{human_bytes(t.rate())}/s", "done" if t.finished else "copying"])
        return out


class LiveTableSink:
    """A rich.live table on stderr, redrawn as events arrive; other lines print above it."""

    def __init__(self, on_plan: OnPlan | None = None, clock: Callable[[], float] = time.monotonic, force_terminal: bool = False) -> None:
        from rich.console import Console
        from rich.live import Live

        self._on_plan = on_plan
        self.board = ProgressBoard(clock)
        self._lock = threading.RLock()
        self.console = Console(stderr=True, force_terminal=force_terminal or None, highlight=False)
        self._live = Live(console=self.console, get_renderable=self._render, refresh_per_second=8, transient=False,
                          redirect_stdout=True, redirect_stderr=False)

    def __enter__(self) -> "LiveTableSink":
        self._live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        with self._lock:
            if kind is not None:
                self.board.stopped = "interrupted" if issubclass(kind, KeyboardInterrupt) else "stopped"
        self._live.stop()  # the last frame stays on the screen

    def __call__(self, message: str) -> None:
        from rich.text import Text

        spent = self.board.clock() - self.board.start
        # one write, the line whole above the table; never under self._lock: rich's refresh
        # thread holds its own lock while it asks _render (which takes self._lock) for the frame
        self.console.print(Text.assemble((f"{spent:6.1f}s ", "dim"), message))

    def event(self, event: ProgressEvent) -> None:
        if event.kind == PLAN:
            with self._lock:
                self.board.apply(event)  # the target whose rows follow
            if self._on_plan is not None and event.plan is not None:
                self._on_plan(event.plan)  # prints: outside self._lock (see __call__)
        elif event.kind == BYTES or event.service is not None or event.step:
            with self._lock:  # a row of the table changes: no line
                self.board.apply(event)
            return
        if event.text:
            self(event.text)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        with self._lock:
            rows, transfers = self.board.rows(), self.board.transfer_rows()
        parts: list[Any] = []
        if rows:
            table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
            for header in ("SERVICE", "READY", "STATE", "STEP", "ELAPSED"):
                table.add_column(header, no_wrap=header != "STEP", overflow="ellipsis")
            for row in rows:
                table.add_row(*row)
            parts.append(table)
        if transfers:
            moved = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
            for header in ("TRANSFER", "BYTES", "RATE", "STATE"):
                moved.add_column(header, no_wrap=True, overflow="ellipsis")
            for row in transfers:
                moved.add_row(*row)
            parts.append(moved)
        return Group(*parts)


def make_sink(mode: str, on_plan: OnPlan | None = None) -> PlainSink | LiveTableSink:
    """The sink for a resolved mode ('table' forces the terminal codes even into a pipe)."""
    if mode == "table":
        return LiveTableSink(on_plan, force_terminal=True)
    return PlainSink(on_plan)
