"""Ctrl-C reaches the main thread, so every command stops within a second of SIGINT.

The kernel hands a process-directed signal to any thread that does not block it. When it
picks a worker (a log reader, an apply worker, a copy thread) blocked in a socket read,
Python only notices once the main thread next runs bytecode, which may be never while it
waits on a queue or a future. Every thread the CLI starts therefore begins with SIGINT
blocked: a thread inherits the signal mask of the thread that starts it, so SIGINT is
blocked around `Thread.start` and restored at once. Only the CLI calls this; it owns the
process, where a library must not change how threads start.
"""
from __future__ import annotations

import functools
import signal
import threading
from typing import Any, NoReturn

_installed = False
EXIT_HANDLERS_S = 0.5  # what Ctrl-C's exit waits for the atexit handlers (a session logout)


def route_sigint_to_main_thread() -> None:
    """From now on, threads start with SIGINT blocked (idempotent; no-op without pthreads)."""
    global _installed
    if _installed or not hasattr(signal, "pthread_sigmask"):
        return
    original = threading.Thread.start

    @functools.wraps(original)
    def start(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            original(self, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    threading.Thread.start = start  # type: ignore[method-assign]
    _installed = True


# what an interrupted command without a revision of its own did (and did not do)
_WITHOUT_REVISION = {
    "logs": "stopped reading the logs; nothing was changed",
    "deploy": "no revision was started; nothing was changed",
    "destroy": "no revision was started; nothing was removed",
    "rollback": "no revision was started; nothing was changed",
}


def interrupted_line(exc: BaseException | None, command: str | None) -> str:
    """The one line Ctrl-C prints: "error: interrupted; " + what was done, what was not, what to run."""
    from portable.engine.interrupted import summary_of

    summary = summary_of(exc) if exc is not None else None
    summary = summary or _WITHOUT_REVISION.get(command or "")
    return "error: interrupted" + (f"; {summary}" if summary else "")


def exit_interrupted(exc: BaseException | None = None) -> NoReturn:
    """Ctrl-C's exit: one line and status 130, within a second whatever the threads do.

    The main thread has already unwound (the revision recorded as failed, the lock released),
    but worker threads may still sit in a call to the target (a 60 s read on a slow link) and
    the interpreter joins them before exiting. Nothing they could still do is needed (state is
    written by the main thread only, and a rerun finds what they made by its labels). The
    interpreter's own shutdown (tearing down every module of an SDK) took up to a second on a
    loaded machine, so the process ends at once after the atexit handlers (a vSphere logout),
    which get EXIT_HANDLERS_S.
    """
    import atexit
    import os
    import sys

    import click

    context = click.get_current_context(silent=True)
    click.echo(interrupted_line(exc, context.info_name if context is not None else None), err=True)
    handlers = threading.Thread(target=atexit._run_exitfuncs, name="portable-atexit", daemon=True)
    try:
        handlers.start()
        handlers.join(EXIT_HANDLERS_S)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting for them
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (a pipe closed by `| head`)
            pass
    os._exit(130)
