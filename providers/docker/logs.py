"""Service logs: the last lines of every replica, or all replicas followed at once.

Following merges one reader thread per container into one iterator, each line tagged with
its service and replica, the way `docker compose logs -f` shows them.

Ctrl-C must end a follow at once. The reader threads block SIGINT, so the kernel hands it
to the main thread, whose wait on the queue it interrupts; otherwise a reader blocked in
recv could take it and Python would notice only when the next line arrived (never, for a
quiet service). The main thread also wakes a few times a second, and when the iterator is
closed it cancels every stream so no reader lingers.
"""
from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Iterator
from typing import Any

import docker

from portable.errors import InputError
from portable.manifest.app import App
from portable.plan.resources import LogLine

from portable.providers.docker import naming
from portable.providers.docker.engine import engine_call, retried

_DONE = object()
_WAKE_S = 0.2  # the longest the follow loop waits without returning to Python code


def _replicas(client: docker.DockerClient, app: App, services: list[str]) -> list[dict[str, Any]]:
    unknown = [s for s in services if s not in app.services]
    if unknown:
        raise InputError(f"no service named {', '.join(unknown)} in {app.name}; services: {', '.join(sorted(app.services))}")
    filters = {"label": [f"{naming.LABEL_APP}={app.name}", f"{naming.LABEL_KIND}={naming.KIND_CONTAINER}"]}
    found = retried(f"listing containers of {app.name}", lambda: client.api.containers(all=True, filters=filters))
    wanted = set(services or app.services)
    picked = [c for c in found if (c.get("Labels") or {}).get(naming.LABEL_SERVICE) in wanted]
    return sorted(picked, key=lambda c: str(c["Names"][0]))


def _line(c: dict[str, Any], raw: bytes) -> LogLine:
    labels = c.get("Labels") or {}
    return LogLine(labels.get(naming.LABEL_SERVICE, ""), str(c["Names"][0]).lstrip("/"),
                   raw.decode(errors="replace").rstrip("\r\n"))


def read_logs(client: docker.DockerClient, app: App, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]:
    picked = _replicas(client, app, services)
    if not follow:
        for c in picked:
            with engine_call(f"reading logs of {c['Names'][0].lstrip('/')}"):
                data = client.api.logs(c["Id"], stdout=True, stderr=True, tail=tail if tail >= 0 else "all")
            for raw in data.splitlines():
                yield _line(c, raw)
        return
    lines: queue.Queue[Any] = queue.Queue(maxsize=1000)
    stop = threading.Event()
    streams: list[Any] = []
    streams_lock = threading.Lock()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                lines.put(item, timeout=_WAKE_S)
                return
            except queue.Full:
                continue

    def pump(c: dict[str, Any]) -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # see the module docstring
        try:
            stream = client.api.logs(c["Id"], stdout=True, stderr=True, stream=True, follow=True,
                                     tail=tail if tail >= 0 else "all")
            with streams_lock:
                streams.append(stream)
                if stop.is_set():  # the follow ended while this stream was opening
                    stream.close()
                    return
            buf = b""
            for chunk in stream:
                if stop.is_set():
                    return
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    put(_line(c, raw))
            if buf:
                put(_line(c, buf))
        except docker.errors.APIError:
            pass  # the container went away: its stream simply ends
        except Exception:
            if not stop.is_set():
                raise
        finally:
            put(_DONE)

    for c in picked:
        threading.Thread(target=pump, args=(c,), daemon=True, name=f"logs-{c['Id'][:12]}").start()
    open_streams = len(picked)
    try:
        while open_streams:
            try:
                item = lines.get(timeout=_WAKE_S)
            except queue.Empty:
                continue
            if item is _DONE:
                open_streams -= 1
                continue
            yield item
    finally:
        stop.set()
        with streams_lock:
            for stream in streams:
                try:
                    stream.close()
                except Exception:  # closing is best effort: the process may be exiting
                    pass
