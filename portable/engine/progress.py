"""Structured progress: what the engine and providers report besides the plain line.

Progress travels through the one callback every verb already takes (`Callable[[str], None]`),
so the plain timestamped lines stay exactly as they were. A sink that also wants the
structure (the CLI's live table, portable/cli/live_table.py) has an `event` method;
`emit` calls it with a `ProgressEvent`, and calls any other sink with the text alone (and
not at all for an event with no text, such as a byte count tick). No import of rich here:
the engine stays usable without a terminal.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Progress = Callable[[str], None]

# what an event says: a plan about to be applied, a step of a service, replicas ready, bytes moved
PLAN, STEP, BYTES = "plan", "step", "bytes"
BYTES_EVERY_S = 0.2  # a byte counter reports at most this often (and once at its end)


@dataclass(frozen=True)
class ProgressEvent:
    """One report. `text` is the plain line ('' when plain mode prints nothing for it)."""

    text: str
    kind: str = STEP
    service: str | None = None  # the manifest service it concerns (None: the app as a whole)
    step: str | None = None  # what is happening now, short: "creating container/web-1"
    ready: int | None = None  # replicas of `service` ready at the desired revision
    desired: int | None = None  # replicas `service` should have
    transfer: str | None = None  # what the bytes are: "push registry/app:tag", "volume data"
    bytes_done: int | None = None
    bytes_total: int | None = None  # None: not known in advance
    finished: bool = False  # the transfer (or the service's last step) is over
    plan: Any = None  # PLAN events: the Plan about to be applied


@runtime_checkable
class EventSink(Protocol):
    """A progress callback that also takes structured events (the CLI's renderers)."""

    def __call__(self, message: str) -> None: ...

    def event(self, event: ProgressEvent) -> None: ...


def emit(progress: Progress, text: str, **fields: Any) -> None:
    """Reports `text` with `fields` (see ProgressEvent): the event to a sink that takes
    events, the text alone to any other (nothing when the text is empty)."""
    if isinstance(progress, EventSink):
        progress.event(ProgressEvent(text, **fields))
    elif text:
        progress(text)


def takes_events(progress: Progress) -> bool:
    """Whether `progress` renders structured events (worth counting bytes for)."""
    return isinstance(progress, EventSink)


def metered(chunks: Iterable[bytes], progress: Progress, transfer: str, *, total: int | None = None,
            service: str | None = None, clock: Callable[[], float] = time.monotonic) -> Iterator[bytes]:
    """Passes `chunks` through unchanged, reporting the bytes seen so far as BYTES events
    (at most every BYTES_EVERY_S, and once when the stream ends). Plain sinks print nothing."""
    if not takes_events(progress):
        yield from chunks
        return
    done, last = 0, clock()
    emit(progress, "", kind=BYTES, transfer=transfer, bytes_done=0, bytes_total=total, service=service)
    for chunk in chunks:
        done += len(chunk)
        now = clock()
        if now - last >= BYTES_EVERY_S:
            last = now
            emit(progress, "", kind=BYTES, transfer=transfer, bytes_done=done, bytes_total=total, service=service)
        yield chunk
    emit(progress, "", kind=BYTES, transfer=transfer, bytes_done=done, bytes_total=total if total is not None else done, service=service, finished=True)


class PushMeter:
    """Bytes of a `docker push` from the engine's JSON stream: each layer's
    `progressDetail` {current, total} summed (layers already in the registry count as done)."""

    def __init__(self, progress: Progress, transfer: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._progress, self._transfer, self._clock = progress, transfer, clock
        self._layers: dict[str, tuple[int, int]] = {}
        self._last = clock()
        self._on = takes_events(progress)
        self._reported = False

    def saw(self, chunk: Any) -> None:
        if not self._on or not isinstance(chunk, dict) or not chunk.get("id"):
            return
        layer, detail = str(chunk["id"]), chunk.get("progressDetail") or {}
        if isinstance(detail.get("current"), int) and isinstance(detail.get("total"), int):
            self._layers[layer] = (int(detail["current"]), int(detail["total"]))
        elif chunk.get("status") in ("Pushed", "Layer already exists") and layer in self._layers:
            total = self._layers[layer][1]
            self._layers[layer] = (total, total)
        now = self._clock()
        if not self._reported or now - self._last >= BYTES_EVERY_S:  # the first at once: the rate counts from there
            self._reported, self._last = True, now
            self._report(finished=False)

    def close(self) -> None:
        if self._on:
            self._report(finished=True)

    def _report(self, *, finished: bool) -> None:
        done = sum(c for c, _ in self._layers.values())
        total = sum(t for _, t in self._layers.values())
        emit(self._progress, "", kind=BYTES, transfer=self._transfer, bytes_done=done, bytes_total=total or None, finished=finished)
